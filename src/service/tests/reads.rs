use super::*;

#[tokio::test]
async fn list_is_oldest_first_and_filters_by_status_and_show_gives_the_history() {
    let h = harness();
    h.active("AUD-2").await;
    h.clock.advance(Duration::seconds(1));
    h.active("AUD-1").await;
    h.service
        .revoke(&ticket("AUD-2"), None, &operator())
        .await
        .unwrap();
    let all: Vec<String> = h
        .service
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(|g| g.ticket.to_string())
        .collect();
    assert_eq!(all, ["AUD-2", "AUD-1"]);
    let active = h.service.list(Some(GrantStatus::Active)).await.unwrap();
    assert_eq!(active.len(), 1);
    let (g, history) = h.service.show(&ticket("AUD-2")).await.unwrap();
    assert_eq!(g.status, GrantStatus::Revoked);
    assert_eq!(history.len(), 4);
    assert_eq!(format_timestamp(history[0].at), "2026-12-01T09:00:00Z");
}
