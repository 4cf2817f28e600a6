"""Writes the signed webhook samples events/http-*.json: API Gateway HTTP API
(payload 2.0) and Lambda Function URL requests for every route, signed with the
demo secret (X-Hub-Signature-256 = sha256=HMAC-SHA256(secret, raw body)).

Run it again after changing a body: python3 scripts/make-http-events.py"""
import base64
import hashlib
import hmac
import json
import pathlib

DEMO_SECRET = b"audit-grants-demo-webhook-secret"
DEMO_BEARER = "audit-grants-demo-bearer-token-01"
EVENTS = pathlib.Path(__file__).resolve().parent.parent / "events"
# When the samples were "sent": revoke and extend bodies carry it as
# requested_at, which must be within 5 minutes of the function's clock (tests
# that replay the samples at another time re-stamp and re-sign them).
SENT_AT = "2026-12-01T08:00:00Z"


def grant_body(ticket):
    return {
        "ticket": ticket,
        "requested_by": "jira-automation@example.com",
        "auditor_account": "210987654321",
        "principals": ["arn:aws:iam::210987654321:role/ExternalAuditor"],
        "access": "security-audit",
        "duration": "72h",
        "reason": "FY26 SOC 2 fieldwork",
    }


def event(kind, method, path, body, base64_body=False, bearer=False):
    raw = json.dumps(body, separators=(",", ":")) if body is not None else ""
    headers = {
        "content-type": "application/json",
        "user-agent": "Atlassian Webhook HTTP Client" if kind == "apigw" else "ServiceNow/1.0",
        "x-forwarded-proto": "https",
    }
    if bearer:
        headers["authorization"] = f"Bearer {DEMO_BEARER}"
    else:
        headers["x-hub-signature-256"] = "sha256=" + hmac.new(DEMO_SECRET, raw.encode(), hashlib.sha256).hexdigest()
    if kind == "apigw":
        domain = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
        context = {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": domain,
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": headers["user-agent"]},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "01/Dec/2026:08:00:00 +0000",
            "timeEpoch": 1796112000000,
        }
        route_key = "ANY /{proxy+}"
    else:
        domain = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
        context = {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": domain,
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.20", "userAgent": headers["user-agent"]},
            "requestId": "6f0d6a7e-6a43-4a4e-8f0e-3c2b1a098765",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:08:00:00 +0000",
            "timeEpoch": 1796112000000,
        }
        route_key = "$default"
    headers["host"] = domain
    ev = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": base64_body,
    }
    if kind == "apigw" and path != "/grants":
        ev["pathParameters"] = {"proxy": path.lstrip("/")}
    if raw:
        ev["body"] = base64.b64encode(raw.encode()).decode() if base64_body else raw
    return ev


samples = {
    # API Gateway HTTP API (Jira Automation "Send web request", signed by a proxy step).
    "http-apigw-create.json": event("apigw", "POST", "/grants", grant_body("AUD-2001")),
    "http-apigw-show.json": event("apigw", "GET", "/grants/AUD-2001", None),
    "http-apigw-extend.json": event("apigw", "POST", "/grants/AUD-2001/extend", {"ticket": "AUD-2001", "requested_at": SENT_AT, "end": "2026-12-06T17:00:00Z"}),
    "http-apigw-revoke.json": event("apigw", "POST", "/grants/AUD-2001/revoke", {"ticket": "AUD-2001", "requested_at": SENT_AT, "reason": "fieldwork finished early"}),
    # Lambda Function URL (ServiceNow REST step); the create body arrives base64-encoded.
    "http-url-create.json": event("url", "POST", "/grants", grant_body("AUD-2002"), base64_body=True),
    "http-url-show.json": event("url", "GET", "/grants/AUD-2002", None),
    "http-url-extend.json": event("url", "POST", "/grants/AUD-2002/extend", {"ticket": "AUD-2002", "requested_at": SENT_AT, "end": "2026-12-06T17:00:00Z"}),
    "http-url-revoke.json": event("url", "POST", "/grants/AUD-2002/revoke", {"ticket": "AUD-2002", "requested_at": SENT_AT, "reason": "engagement cancelled"}),
    # A sender that can only set a static header (Jira Automation): a bearer token.
    "http-url-create-bearer.json": event("url", "POST", "/grants", grant_body("AUD-2003"), bearer=True),
}
for name, ev in samples.items():
    (EVENTS / name).write_text(json.dumps(ev, indent=2) + "\n")
    print(f"wrote events/{name}")
