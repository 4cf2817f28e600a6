//! In-memory ports with the semantics the real adapters have: the store's
//! conditional writes (a new ticket only once, an update only from the version
//! it read), IAM's roles per account with "already done" teardown steps, a
//! clock that tests move. For unit tests of every rule and for benchmarks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AccountId, Grant, GrantStatus, HistoryEvent, Notice, Partition, RoleRef, TAG_MANAGED_BY,
    TAG_TICKET, Ticket,
};
use crate::policy::PolicyDocument;
use crate::ports::{
    Caller, CallerIdentity, Clock, GrantStore, ListedRole, NoticeOutcome, Notifier, ObservedRole,
    ProvisionError, ProvisionedRole, ReconcileCursor, RoleProvisioner, RoleSpec, StoreError,
    WindowUpdate,
};
use crate::ports::{Teardown, TornDown};

/// A clock that stands still until a test moves it.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        FakeClock(Arc::new(Mutex::new(now)))
    }
    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().unwrap() = now;
    }
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The function's own account, known without asking.
pub struct FixedIdentity(pub Caller);

impl FixedIdentity {
    pub fn in_account(account: &str) -> Self {
        FixedIdentity(Caller {
            account: AccountId::parse(account).expect("a 12-digit account"),
            partition: Partition::Aws,
        })
    }
}

#[async_trait]
impl CallerIdentity for FixedIdentity {
    async fn caller(&self) -> anyhow::Result<Caller> {
        Ok(self.0.clone())
    }
}

/// A store operation, for scripting faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    Get,
    Insert,
    Update,
    Due,
    Live,
    Cursor,
    Notices,
}

/// Runs before a scripted write: may change the stored grants (another writer
/// winning a race) before the write is checked against them.
pub type StoreHook = Box<dyn FnOnce(&mut BTreeMap<Ticket, Grant>) + Send>;

#[derive(Default)]
struct StoreState {
    grants: BTreeMap<Ticket, Grant>,
    history: BTreeMap<Ticket, Vec<HistoryEvent>>,
    failures: HashMap<StoreOp, VecDeque<StoreError>>,
    before_update: VecDeque<StoreHook>,
    calls: Vec<StoreOp>,
    reconcile_cursor: Option<ReconcileCursor>,
    outbox: BTreeMap<(Ticket, String), (Notice, Option<NoticeOutcome>)>,
}

/// The grants table in memory, with DynamoDB's conditional-write semantics.
#[derive(Default, Clone)]
pub struct FakeStore(Arc<Mutex<StoreState>>);

impl FakeStore {
    /// Every notice recorded for `ticket`, with how it left the outbox (`None`: still in it).
    pub fn notices(&self, ticket: &str) -> Vec<(Notice, Option<NoticeOutcome>)> {
        let s = self.0.lock().unwrap();
        let mut all: Vec<_> = s
            .outbox
            .iter()
            .filter(|((t, _), _)| t.as_str() == ticket)
            .map(|(_, v)| v.clone())
            .collect();
        all.sort_by(|a, b| (a.0.send_at, &a.0.key).cmp(&(b.0.send_at, &b.0.key)));
        all
    }

    /// The next `op` fails with `error` (once per call of this).
    pub fn fail_next(&self, op: StoreOp, error: StoreError) {
        let mut s = self.0.lock().unwrap();
        s.failures.entry(op).or_default().push_back(error);
    }

    /// Before the next update is checked, `hook` changes the table: another
    /// writer got there first.
    pub fn before_next_update(&self, hook: StoreHook) {
        self.0.lock().unwrap().before_update.push_back(hook);
    }

    /// Puts a grant as another writer would (version as given).
    pub fn put(&self, grant: Grant) {
        self.0
            .lock()
            .unwrap()
            .grants
            .insert(grant.ticket.clone(), grant);
    }

    pub fn grant(&self, ticket: &str) -> Option<Grant> {
        let t = Ticket::parse(ticket).expect("a ticket");
        self.0.lock().unwrap().grants.get(&t).cloned()
    }

    pub fn events(&self, ticket: &str) -> Vec<HistoryEvent> {
        let t = Ticket::parse(ticket).expect("a ticket");
        self.0
            .lock()
            .unwrap()
            .history
            .get(&t)
            .cloned()
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().grants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn calls(&self) -> Vec<StoreOp> {
        self.0.lock().unwrap().calls.clone()
    }

    fn enter(&self, op: StoreOp) -> Result<std::sync::MutexGuard<'_, StoreState>, StoreError> {
        let mut s = self.0.lock().unwrap();
        s.calls.push(op);
        match s.failures.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(s),
        }
    }
}

#[async_trait]
impl GrantStore for FakeStore {
    async fn get(&self, ticket: &Ticket) -> Result<Option<Grant>, StoreError> {
        Ok(self.enter(StoreOp::Get)?.grants.get(ticket).cloned())
    }

    async fn insert(&self, grant: &Grant, event: &HistoryEvent) -> Result<(), StoreError> {
        let mut s = self.enter(StoreOp::Insert)?;
        if s.grants.contains_key(&grant.ticket) {
            return Err(StoreError::AlreadyExists);
        }
        s.grants.insert(grant.ticket.clone(), grant.clone());
        s.history
            .entry(grant.ticket.clone())
            .or_default()
            .push(event.clone());
        Ok(())
    }

    async fn update(
        &self,
        grant: &Grant,
        event: &HistoryEvent,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        let mut s = self.enter(StoreOp::Update)?;
        if let Some(hook) = s.before_update.pop_front() {
            hook(&mut s.grants);
        }
        let stored = s.grants.get(&grant.ticket).map(|g| g.version);
        if stored != Some(grant.version - 1) {
            return Err(StoreError::VersionConflict);
        }
        s.grants.insert(grant.ticket.clone(), grant.clone());
        s.history
            .entry(grant.ticket.clone())
            .or_default()
            .push(event.clone());
        for n in notices {
            s.outbox
                .insert((n.ticket.clone(), n.key.clone()), (n.clone(), None));
        }
        Ok(())
    }

    async fn due_notices(&self, as_of: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
        let s = self.enter(StoreOp::Notices)?;
        let mut due: Vec<Notice> = s
            .outbox
            .values()
            .filter(|(n, outcome)| outcome.is_none() && n.send_at <= as_of)
            .map(|(n, _)| n.clone())
            .collect();
        due.sort_by_key(|n| n.send_at);
        Ok(due)
    }

    async fn settle_notice(
        &self,
        notice: &Notice,
        outcome: &NoticeOutcome,
    ) -> Result<(), StoreError> {
        let mut s = self.enter(StoreOp::Notices)?;
        s.outbox.insert(
            (notice.ticket.clone(), notice.key.clone()),
            (notice.clone(), Some(outcome.clone())),
        );
        Ok(())
    }

    async fn history(&self, ticket: &Ticket) -> Result<Vec<HistoryEvent>, StoreError> {
        let s = self.enter(StoreOp::Get)?;
        Ok(s.history.get(ticket).cloned().unwrap_or_default())
    }

    async fn list(&self, status: Option<GrantStatus>) -> Result<Vec<Grant>, StoreError> {
        let s = self.0.lock().unwrap();
        Ok(s.grants
            .values()
            .filter(|g| status.is_none_or(|st| g.status == st))
            .cloned()
            .collect())
    }

    async fn due(&self, as_of: DateTime<Utc>) -> Result<Vec<Grant>, StoreError> {
        let s = self.enter(StoreOp::Due)?;
        Ok(s.grants
            .values()
            .filter(|g| g.due_at().is_some_and(|d| d <= as_of))
            .cloned()
            .collect())
    }

    async fn live(&self) -> Result<Vec<Grant>, StoreError> {
        let s = self.enter(StoreOp::Live)?;
        Ok(s.grants
            .values()
            .filter(|g| g.due_at().is_some())
            .cloned()
            .collect())
    }

    async fn reconcile_cursor(&self) -> Result<Option<ReconcileCursor>, StoreError> {
        Ok(self.enter(StoreOp::Cursor)?.reconcile_cursor.clone())
    }

    async fn save_reconcile_cursor(
        &self,
        cursor: Option<&ReconcileCursor>,
    ) -> Result<(), StoreError> {
        self.enter(StoreOp::Cursor)?.reconcile_cursor = cursor.cloned();
        Ok(())
    }
}

/// A role as the fake IAM holds it.
#[derive(Debug, Clone)]
pub struct FakeRole {
    pub spec: RoleSpec,
    pub role_id: String,
    pub trust: PolicyDocument,
    pub window_deny: Option<PolicyDocument>,
    pub expires_at: String,
    pub attached: Vec<String>,
    pub inline: Vec<String>,
    pub boundary: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// A provisioner operation, for scripting faults and checking calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IamOp {
    List,
    Inspect,
    Provision,
    UpdateWindow,
    Teardown,
}

/// Runs once an operation has taken effect: another invocation acting in
/// between (for races).
pub type IamHook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct IamState {
    roles: BTreeMap<(AccountId, String), FakeRole>,
    failures: HashMap<IamOp, VecDeque<ProvisionError>>,
    after: HashMap<IamOp, VecDeque<IamHook>>,
    calls: Vec<(IamOp, String)>,
    next_id: u64,
    inspect_latency: Option<std::time::Duration>,
}

/// IAM in memory: roles per account, with `provision` idempotent for this
/// ticket's role, refusing another's, and every teardown step "already done"
/// when the role is gone.
#[derive(Default, Clone)]
pub struct FakeIam(Arc<Mutex<IamState>>);

impl FakeIam {
    /// The next `op` fails with `error`.
    pub fn fail_next(&self, op: IamOp, error: ProvisionError) {
        let mut s = self.0.lock().unwrap();
        s.failures.entry(op).or_default().push_back(error);
    }

    /// Each role inspection takes this long (on tokio's clock: a test with
    /// paused time runs it instantly, deadlines included).
    pub fn set_inspect_latency(&self, latency: std::time::Duration) {
        self.0.lock().unwrap().inspect_latency = Some(latency);
    }

    /// Runs `hook` right after the next `op` took effect.
    pub fn after_next(&self, op: IamOp, hook: IamHook) {
        let mut s = self.0.lock().unwrap();
        s.after.entry(op).or_default().push_back(hook);
    }

    fn run_after(&self, op: IamOp) {
        let hook = self
            .0
            .lock()
            .unwrap()
            .after
            .get_mut(&op)
            .and_then(VecDeque::pop_front);
        if let Some(hook) = hook {
            hook();
        }
    }

    pub fn role(&self, account: &str, name: &str) -> Option<FakeRole> {
        let key = (AccountId::parse(account).expect("account"), name.to_owned());
        self.0.lock().unwrap().roles.get(&key).cloned()
    }

    pub fn role_count(&self) -> usize {
        self.0.lock().unwrap().roles.len()
    }

    /// Changes a role out of band (drift).
    pub fn tamper(&self, account: &str, name: &str, change: impl FnOnce(&mut FakeRole)) {
        let key = (AccountId::parse(account).expect("account"), name.to_owned());
        if let Some(role) = self.0.lock().unwrap().roles.get_mut(&key) {
            change(role);
        }
    }

    /// Deletes a role out of band.
    pub fn delete_out_of_band(&self, account: &str, name: &str) {
        let key = (AccountId::parse(account).expect("account"), name.to_owned());
        self.0.lock().unwrap().roles.remove(&key);
    }

    /// Puts a role as someone else made it (tags and all).
    pub fn put_role(&self, role: FakeRole) {
        let key = (
            role.spec.target_account.clone(),
            role.spec.role_name.clone(),
        );
        self.0.lock().unwrap().roles.insert(key, role);
    }

    /// Operations in order, each with the role it was about.
    pub fn calls(&self) -> Vec<(IamOp, String)> {
        self.0.lock().unwrap().calls.clone()
    }

    pub fn count(&self, op: IamOp) -> usize {
        self.calls().iter().filter(|(o, _)| *o == op).count()
    }

    fn enter(
        &self,
        op: IamOp,
        about: &str,
    ) -> Result<std::sync::MutexGuard<'_, IamState>, ProvisionError> {
        let mut s = self.0.lock().unwrap();
        s.calls.push((op, about.to_owned()));
        match s.failures.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(s),
        }
    }
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[async_trait]
impl RoleProvisioner for FakeIam {
    async fn list_roles(
        &self,
        target: &AccountId,
        path: &str,
    ) -> Result<Vec<ListedRole>, ProvisionError> {
        let s = self.enter(IamOp::List, target.as_str())?;
        Ok(s.roles
            .iter()
            .filter(|((account, _), role)| account == target && role.spec.path == path)
            .map(|((account, name), role)| ListedRole {
                target_account: account.clone(),
                name: name.clone(),
                role_id: role.role_id.clone(),
            })
            .collect())
    }

    async fn inspect_role(
        &self,
        target: &AccountId,
        name: &str,
    ) -> Result<Option<ObservedRole>, ProvisionError> {
        let latency = self.0.lock().unwrap().inspect_latency;
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        let s = self.enter(IamOp::Inspect, name)?;
        Ok(s.roles
            .get(&(target.clone(), name.to_owned()))
            .map(|role| ObservedRole {
                target_account: target.clone(),
                name: name.to_owned(),
                arn: format!("arn:aws:iam::{target}:role{}{name}", role.spec.path),
                role_id: role.role_id.clone(),
                managed: tag(&role.tags, TAG_MANAGED_BY) == Some(crate::domain::MANAGED_BY),
                ticket: tag(&role.tags, TAG_TICKET).map(str::to_owned),
                trust: serde_json::to_value(&role.trust).expect("serialises"),
                boundary: role.boundary.clone(),
                max_session_seconds: Some(role.spec.max_session_seconds),
                attached: role.attached.clone(),
                inline: role.inline.clone(),
                window_deny: role
                    .window_deny
                    .as_ref()
                    .map(|d| serde_json::to_value(d).expect("serialises")),
            }))
    }

    async fn provision(&self, spec: &RoleSpec) -> Result<ProvisionedRole, ProvisionError> {
        let mut s = self.enter(
            IamOp::Provision,
            &format!("{}/{}", spec.target_account, spec.role_name),
        )?;
        let key = (spec.target_account.clone(), spec.role_name.clone());
        let role_id = match (s.roles.get(&key), &spec.existing_role_id) {
            // A repair: only that very role, never a new one.
            (None, Some(_)) => return Err(ProvisionError::RoleGone),
            (Some(existing), Some(id)) if existing.role_id != *id => {
                return Err(ProvisionError::ForeignRole(spec.role_name.clone()));
            }
            (Some(existing), None)
                if tag(&existing.tags, TAG_TICKET) != Some(spec.ticket.as_str()) =>
            {
                return Err(ProvisionError::ForeignRole(spec.role_name.clone()));
            }
            (Some(existing), _) => existing.role_id.clone(),
            (None, None) => {
                s.next_id += 1;
                format!("AROAFAKE{:012}", s.next_id)
            }
        };
        let role = FakeRole {
            spec: spec.clone(),
            role_id: role_id.clone(),
            trust: spec.trust.clone(),
            window_deny: Some(spec.window_deny.clone()),
            expires_at: tag(&spec.tags, crate::domain::TAG_EXPIRES_AT)
                .unwrap_or_default()
                .to_owned(),
            attached: vec![spec.policy_arn.clone()],
            inline: vec![crate::policy::WINDOW_POLICY_NAME.to_owned()],
            boundary: Some(spec.boundary_arn.clone()),
            tags: spec.tags.clone(),
        };
        s.roles.insert(key, role);
        Ok(ProvisionedRole {
            arn: format!(
                "arn:aws:iam::{}:role{}{}",
                spec.target_account, spec.path, spec.role_name
            ),
            role_id,
        })
    }

    async fn update_window(
        &self,
        role: &RoleRef,
        window: &WindowUpdate,
    ) -> Result<(), ProvisionError> {
        {
            let mut s = self.enter(
                IamOp::UpdateWindow,
                &format!("{}/{}", role.target_account, role.role_name),
            )?;
            let key = (role.target_account.clone(), role.role_name.clone());
            let r = s.roles.get_mut(&key).ok_or(ProvisionError::RoleGone)?;
            if role.role_id.as_ref().is_some_and(|id| *id != r.role_id) {
                return Err(ProvisionError::RoleGone); // another role of that name
            }
            r.trust = window.trust.clone();
            r.window_deny = Some(window.window_deny.clone());
            r.expires_at = window.expires_at.clone();
        }
        self.run_after(IamOp::UpdateWindow);
        Ok(())
    }

    async fn teardown(
        &self,
        role: &RoleRef,
        now: DateTime<Utc>,
    ) -> Result<Teardown, ProvisionError> {
        let mut s = self.enter(
            IamOp::Teardown,
            &format!("{}/{}", role.target_account, role.role_name),
        )?;
        let key = (role.target_account.clone(), role.role_name.clone());
        let Some(existing) = s.roles.get(&key) else {
            return Ok(Teardown::nothing_found());
        };
        match &role.role_id {
            // Ours by its id, whatever its tags say now.
            Some(id) if *id == existing.role_id => {}
            // Another role of that name: ours is gone; never touch theirs.
            Some(_) => return Ok(Teardown::nothing_found()),
            None if tag(&existing.tags, TAG_TICKET) == Some(role.ticket.as_str()) => {}
            None => return Err(ProvisionError::ForeignRole(role.role_name.clone())),
        }
        s.roles.remove(&key);
        use crate::domain::step;
        Ok(Teardown {
            found: TornDown::Deleted,
            steps: [
                step::SESSIONS_REVOKED,
                step::TRUST_REMOVED,
                step::POLICIES_DETACHED,
                step::INLINE_POLICIES_DELETED,
                step::ROLE_DELETED,
            ]
            .into_iter()
            .map(|name| crate::domain::TeardownStep::new(name, now))
            .collect(),
        })
    }
}

/// An active grant as the service records one (for seeding a table in tests
/// and benchmarks without going through IAM): the auditor
/// `arn:aws:iam::210987654321:role/ExternalAuditor`, security-audit.
pub fn active_grant(
    ticket: &str,
    target_account: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Grant {
    use crate::domain::{AccessPreset, ExternalId, GrantRequest, PrincipalArn, Window};
    let ticket = Ticket::parse(ticket).expect("a valid ticket");
    let target_account = AccountId::parse(target_account).expect("a 12-digit account");
    let role_name = ticket.role_name();
    let role_arn =
        |account: &AccountId| format!("arn:aws:iam::{account}:role/audit-grants/{role_name}");
    let request = GrantRequest {
        ticket,
        requested_by: "seeded".into(),
        auditor_account: AccountId::parse("210987654321").expect("account"),
        principals: vec![
            PrincipalArn::parse("arn:aws:iam::210987654321:role/ExternalAuditor")
                .expect("principal"),
        ],
        external_id: ExternalId::generate(),
        access: AccessPreset::SecurityAudit,
        window: Window::new(start, end).expect("end after start"),
        target_accounts: vec![target_account],
        reason: None,
        fingerprint: "seeded".into(),
    };
    Grant {
        status: GrantStatus::Active,
        ..Grant::requested(request, role_arn, start)
    }
}

/// `active_grant` in 123456789012 with a 72-hour window from `start`.
pub fn sample_grant(ticket: &str, start: DateTime<Utc>) -> Grant {
    active_grant(
        ticket,
        "123456789012",
        start,
        start + chrono::Duration::hours(72),
    )
}

/// A notifier in memory: what was published, in order, and scripted failures.
#[derive(Default, Clone)]
pub struct FakeNotifier(Arc<Mutex<NotifierState>>);

#[derive(Default)]
struct NotifierState {
    published: Vec<Notice>,
    failures: usize,
}

impl FakeNotifier {
    /// The next `n` publishes fail (each notice of them).
    pub fn fail_next(&self, n: usize) {
        self.0.lock().unwrap().failures += n;
    }

    /// Every notice published so far, in order.
    pub fn published(&self) -> Vec<Notice> {
        self.0.lock().unwrap().published.clone()
    }

    /// `(ticket, detail-type)` of every notice published so far.
    pub fn sent(&self) -> Vec<(String, &'static str)> {
        self.published()
            .iter()
            .map(|n| (n.ticket.to_string(), n.kind.detail_type()))
            .collect()
    }
}

#[async_trait]
impl Notifier for FakeNotifier {
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), String>> {
        let mut s = self.0.lock().unwrap();
        if s.failures > 0 {
            s.failures -= 1;
            return notices
                .iter()
                .map(|_| Err("InternalFailure".into()))
                .collect();
        }
        s.published.extend(notices.iter().cloned());
        notices.iter().map(|_| Ok(())).collect()
    }
}

/// CloudTrail's event history in memory: events per (account, lookup), or a
/// reason the lookup stops; every query is recorded.
#[derive(Clone, Default)]
pub struct FakeActivity {
    inner: Arc<Mutex<FakeActivityState>>,
}

#[derive(Default)]
struct FakeActivityState {
    events: Vec<(AccountId, crate::ports::LookupBy, crate::ports::TrailEvent)>,
    stops: Vec<(AccountId, crate::ports::LookupBy, String)>,
    queries: Vec<crate::ports::ActivityQuery>,
}

impl FakeActivity {
    /// `event` is found by looking up `by` in `account`.
    pub fn record(
        &self,
        account: &str,
        by: crate::ports::LookupBy,
        event: crate::ports::TrailEvent,
    ) {
        let account = AccountId::parse(account).expect("a 12-digit account");
        self.inner.lock().unwrap().events.push((account, by, event));
    }

    /// Looking up `by` in `account` stops, for `why`.
    pub fn stop(&self, account: &str, by: crate::ports::LookupBy, why: &str) {
        let account = AccountId::parse(account).expect("a 12-digit account");
        self.inner
            .lock()
            .unwrap()
            .stops
            .push((account, by, why.to_owned()));
    }

    pub fn queries(&self) -> Vec<crate::ports::ActivityQuery> {
        self.inner.lock().unwrap().queries.clone()
    }
}

#[async_trait]
impl crate::ports::ActivityLog for FakeActivity {
    async fn lookup(&self, query: &crate::ports::ActivityQuery) -> crate::ports::Lookup {
        let mut s = self.inner.lock().unwrap();
        s.queries.push(query.clone());
        let mut events: Vec<crate::ports::TrailEvent> = s
            .events
            .iter()
            .filter(|(a, by, e)| {
                *a == query.account
                    && *by == query.by
                    && e.event_time >= query.start
                    && e.event_time <= query.end
            })
            .map(|(_, _, e)| e.clone())
            .collect();
        events.sort_by_key(|e| e.event_time);
        let stopped = s
            .stops
            .iter()
            .find(|(a, by, _)| *a == query.account && *by == query.by)
            .map(|(_, _, why)| why.clone());
        crate::ports::Lookup {
            pages: 1,
            events,
            stopped,
        }
    }
}

/// An evidence bucket in memory: every object kept, each write a new version.
#[derive(Clone, Default)]
pub struct FakeEvidenceStore {
    /// The objects written (key, bytes), and why writes fail, if they do.
    inner: Arc<Mutex<(Vec<KeptObject>, Option<String>)>>,
}

/// An object in the fake evidence bucket: its key and bytes.
type KeptObject = (String, Vec<u8>);

impl FakeEvidenceStore {
    /// Every object written, in order: (key, bytes).
    pub fn objects(&self) -> Vec<(String, Vec<u8>)> {
        self.inner.lock().unwrap().0.clone()
    }

    /// Every write fails with `why` (`None`: they work again).
    pub fn fail_with(&self, why: Option<&str>) {
        self.inner.lock().unwrap().1 = why.map(str::to_owned);
    }
}

#[async_trait]
impl crate::ports::EvidenceStore for FakeEvidenceStore {
    async fn keep(&self, name: &str, body: &[u8]) -> anyhow::Result<crate::domain::EvidenceCopy> {
        use sha2::Digest;
        let mut s = self.inner.lock().unwrap();
        if let Some(why) = &s.1 {
            anyhow::bail!("{why}");
        }
        let key = crate::aws::s3::evidence_key(name);
        s.0.push((key.clone(), body.to_vec()));
        Ok(crate::domain::EvidenceCopy {
            bucket: "evidence-bucket".into(),
            key,
            version_id: Some(format!("v{}", s.0.len())),
            sha256: hex::encode(sha2::Sha256::digest(body)),
        })
    }
}
