// Table-driven evaluation of every IAM document audit-grants produces, with an
// independent IAM evaluator (@cloud-copilot/iam-simulate). Expected results are
// written from the SPEC ("What gets created in IAM", "Lifecycle") and AWS's
// documented evaluation logic, never from what the documents currently say.
//
// Usage: TZ=UTC node evaluate.mjs <iam-documents.json> [--boundary file.json]
//   (or IAM_DOCUMENTS=<file>, IAM_BOUNDARY=<file>): --boundary evaluates that boundary instead of the documents' one
// Prints: case | expected | actual | ok, then `iam-evaluator: N passed, M failed`.
// Exit 1 on any failure, simulator error, or a case the simulator cannot model.
//
// Expected values: Allowed | ExplicitlyDenied | ImplicitlyDenied | denied (either
// kind of deny) | yes (a static property of a document holds).
import { actionMatchesPattern, actionsOfService, allowedActionsOf } from './lib/catalog.mjs'
import { boundaryProblems, exampleResources, serialisedLength, MANAGED_POLICY_MAX_CHARS } from './lib/boundary.mjs'
import { ADMINISTRATOR_ACCESS, documentsPath, loadDocuments, managedPolicies, presetDocument } from './lib/documents.mjs'
import { ISO_Z, principalContext, simulate } from './lib/sim.mjs'
import { ALL_DATA_READS } from './excluded.mjs'

if (process.env.TZ !== 'UTC') {
  console.error('run with TZ=UTC (iam-simulate parses zone-less dates in local time)')
  process.exit(2)
}

const docs = loadDocuments(documentsPath())
const G = docs.grant
const ACCOUNT = G.account
const AUD = G.auditor_account
const ROLE_ARN = G.role_arn
const ROLE_NAME = ROLE_ARN.split('/').pop()
const EXT = G.external_id
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
const START = G.start
const END = G.end
const S = Date.parse(START)
const E = Date.parse(END)
const INSIDE = iso(Math.floor((S + E) / 2000) * 1000)
const SEC = 1000
const REGION = 'us-east-1'
const V = '2012-10-17'
const policy = (...Statement) => ({ Version: V, Statement })
const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])

for (const t of [START, END, docs.revoke_sessions.at]) {
  if (!ISO_Z.test(t)) {
    console.error(`${t}: the documents must carry ISO-8601 UTC times (YYYY-MM-DDTHH:MM:SSZ)`)
    process.exit(2)
  }
}

const cases = []
const excludedCases = []
const add = (group, name, expected, run, note = '') => cases.push({ group, name, expected, run, note })

// --------------------------------------------------------------------- helpers
/** The auditor's identity making the call: a role session or an IAM user of the auditor account. */
const callerFor = (principalArn) => {
  const m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(principalArn)
  return m ? `arn:aws:sts::${m[1]}:assumed-role/${m[2]}/auditor-alice` : principalArn
}
/** Cross-account: the caller's own identity policy (in its account) must allow sts:AssumeRole on the role. */
const callerAllowsAssume = { name: 'CallerMayAssumeTheGrantRole', policy: policy({ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession'], Resource: ROLE_ARN }) }
const allowAllSts = { name: 'AdminOfItsAccount', policy: policy({ Effect: 'Allow', Action: 'sts:*', Resource: '*' }) }

function assume(trustDoc, { caller, action = 'sts:AssumeRole', now = INSIDE, externalId = EXT, identity = [callerAllowsAssume], extra = {} }) {
  const context = principalContext(caller, now, {
    'sts:ExternalId': externalId ?? undefined, // null: the caller sends none
    'sts:RoleSessionName': 'auditor-alice',
    ...(action === 'sts:SetSourceIdentity' ? { 'sts:SourceIdentity': 'alice@auditfirm.example' } : {}),
    ...extra
  })
  return { principal: caller, action, resource: ROLE_ARN, resourceAccount: ACCOUNT, context, identity, resourcePolicy: trustDoc }
}

const SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE_NAME}/auditor-alice`
const KMS_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
const DEFAULT_KEY_POLICY = policy({ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' })

/** Concrete resources in the role's account for the actions the cases use. */
const RESOURCES = {
  's3:GetObject': `arn:aws:s3:::customer-records-${ACCOUNT}/exports/2026/customers.csv`,
  's3:GetObjectVersion': `arn:aws:s3:::customer-records-${ACCOUNT}/exports/2026/customers.csv`,
  's3:PutObject': `arn:aws:s3:::customer-records-${ACCOUNT}/exports/2026/customers.csv`,
  's3:GetBucketPolicy': `arn:aws:s3:::customer-records-${ACCOUNT}`,
  's3:GetBucketPublicAccessBlock': `arn:aws:s3:::customer-records-${ACCOUNT}`,
  'dynamodb:GetItem': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Customers`,
  'dynamodb:Query': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Customers`,
  'dynamodb:Scan': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Customers`,
  'dynamodb:BatchGetItem': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Customers`,
  'dynamodb:PartiQLSelect': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Customers`,
  'dynamodb:DescribeTable': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/Customers`,
  'secretsmanager:GetSecretValue': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:prod/db-password-AbCdEf`,
  'secretsmanager:DescribeSecret': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:prod/db-password-AbCdEf`,
  'ssm:GetParameter': `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/prod/db/password`,
  'ssm:GetParameters': `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/prod/db/password`,
  'ssm:GetParametersByPath': `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/prod/db`,
  'kms:Decrypt': KMS_KEY,
  'kms:GetKeyPolicy': KMS_KEY,
  'kms:ScheduleKeyDeletion': KMS_KEY,
  'logs:GetLogEvents': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/billing:log-stream:2026/12/02/[$LATEST]0123456789abcdef`,
  'logs:FilterLogEvents': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/billing`,
  'logs:StartQuery': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/billing`,
  'logs:GetQueryResults': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/billing`,
  'logs:DescribeLogGroups': '*', // must be '*': IAM authorises it on the account
  'lambda:GetFunction': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:billing`,
  'lambda:GetFunctionConfiguration': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:billing`,
  'lambda:UpdateFunctionCode': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:billing`,
  'lambda:GetLayerVersion': `arn:aws:lambda:${REGION}:${ACCOUNT}:layer:shared-libs:3`,
  'ec2:GetLaunchTemplateData': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  'ec2:DescribeInstanceAttribute': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  'ec2:GetConsoleOutput': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  'ec2:GetConsoleScreenshot': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  'ec2:GetPasswordData': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  'ssm:GetAutomationExecution': `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/4105a4fc-f944-11e6-9d32-0123456789ab`,
  'states:DescribeExecution': `arn:aws:states:${REGION}:${ACCOUNT}:execution:Payments:run-1`,
  'states:GetExecutionHistory': `arn:aws:states:${REGION}:${ACCOUNT}:execution:Payments:run-1`,
  'athena:GetQueryResults': `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/primary`,
  'ecr:GetDownloadUrlForLayer': `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/billing`,
  'ecr:BatchGetImage': `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/billing`,
  'codecommit:GetFile': `arn:aws:codecommit:${REGION}:${ACCOUNT}:billing-service`,
  'codecommit:GetBlob': `arn:aws:codecommit:${REGION}:${ACCOUNT}:billing-service`,
  'kinesis:GetRecords': `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/clickstream`,
  'sqs:ReceiveMessage': `arn:aws:sqs:${REGION}:${ACCOUNT}:orders`,
  'redshift:GetClusterCredentials': `arn:aws:redshift:${REGION}:${ACCOUNT}:dbuser:analytics/admin`,
  'rds:DownloadDBLogFilePortion': `arn:aws:rds:${REGION}:${ACCOUNT}:db:orders`,
  'glacier:GetJobOutput': `arn:aws:glacier:${REGION}:${ACCOUNT}:vaults/archive`,
  'ecs:DescribeTaskDefinition': '*',
  'iam:GetRole': `arn:aws:iam::${ACCOUNT}:role/billing-app`,
  'iam:CreateUser': `arn:aws:iam::${ACCOUNT}:user/backdoor`,
  'iam:CreateAccessKey': `arn:aws:iam::${ACCOUNT}:user/deploy`,
  'iam:AttachRolePolicy': ROLE_ARN,
  'iam:PutRolePolicy': ROLE_ARN,
  'iam:DeleteRolePermissionsBoundary': ROLE_ARN,
  'iam:UpdateAssumeRolePolicy': ROLE_ARN,
  'iam:PassRole': `arn:aws:iam::${ACCOUNT}:role/billing-app`,
  'sts:AssumeRole': `arn:aws:iam::${ACCOUNT}:role/OrganizationAccountAccessRole`,
  'ec2:RunInstances': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/*`,
  'access-analyzer:ListFindings': `arn:aws:access-analyzer:${REGION}:${ACCOUNT}:analyzer/account-analyzer`,
  'securityhub:GetFindings': `arn:aws:securityhub:${REGION}:${ACCOUNT}:hub/default`,
  'cloudtrail:StopLogging': `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/org-trail`,
  'ssm:SendCommand': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  'ec2-instance-connect:SendSSHPublicKey': `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`
}

async function catalogEntry(action) {
  const [service, name] = action.split(':')
  return (await actionsOfService(service)).find((e) => e.action.toLowerCase() === `${service}:${name}`.toLowerCase())
}
async function resourcesFor(action) {
  if (RESOURCES[action]) return [RESOURCES[action]]
  const entry = await catalogEntry(action)
  return entry ? [...(await exampleResources(entry, ACCOUNT)), '*'] : ['*']
}

/** A request by a session of the grant role. */
async function sessionRequest(action, { identity, now = INSIDE, tokenIssued, boundary = docs.boundary, resource }) {
  const context = principalContext(SESSION, now, { 'aws:TokenIssueTime': tokenIssued ?? iso(Date.parse(now) - 10 * 60 * SEC) })
  return { principal: SESSION, action, resources: resource ? [resource] : await resourcesFor(action), resourceAccount: ACCOUNT, context, identity, boundary }
}

const presets = Object.entries(docs.presets).map(([name, arn]) => ({ name, arn, managed: presetDocument(arn) }))
const grants = new Map()
for (const p of presets) grants.set(p.name, (await allowedActionsOf(p.managed.document)).actions)
const presetGrants = (preset, action) => {
  const a = grants.get(preset).get(action) ?? [...grants.get(preset).values()].find((e) => e.action.toLowerCase() === action.toLowerCase())
  return Boolean(a)
}
const windowDeny = { name: 'AuditGrantWindow', policy: docs.window_deny }
const identityOf = (p, ...more) => [{ name: p.managed.name, policy: p.managed.document }, windowDeny, ...more]

// --------------------------------------------------------------------- static properties of the documents
{
  const t = docs.trust
  const st = asList(t.Statement)
  const s0 = st[0] ?? {}
  const cond = s0.Condition ?? {}
  const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x))
  add('static', 'trust: exactly one statement, Effect Allow', 'yes', () => (st.length === 1 && s0.Effect === 'Allow' ? 'yes' : 'no'))
  add('static', 'trust: Principal.AWS is exactly the requested principals', 'yes', () => (sameSet(asList(s0.Principal?.AWS), G.principals) && Object.keys(s0.Principal ?? {}).length === 1 ? 'yes' : 'no'))
  add('static', 'trust: actions are exactly sts:AssumeRole and sts:SetSourceIdentity (never sts:TagSession)', 'yes', () => (sameSet(asList(s0.Action), ['sts:AssumeRole', 'sts:SetSourceIdentity']) ? 'yes' : 'no'))
  add('static', 'trust: StringEquals sts:ExternalId, DateGreaterThan start, DateLessThan end, nothing else', 'yes', () =>
    cond.StringEquals?.['sts:ExternalId'] === EXT && cond.DateGreaterThan?.['aws:CurrentTime'] === START && cond.DateLessThan?.['aws:CurrentTime'] === END && Object.keys(cond).length === 3 ? 'yes' : 'no')
  const w = asList(docs.window_deny.Statement)
  add('static', 'AuditGrantWindow: Deny * on * before start and after end, nothing else', 'yes', () =>
    w.length === 2 && w.every((s) => s.Effect === 'Deny' && asList(s.Action).join() === '*' && asList(s.Resource).join() === '*') &&
    w.some((s) => s.Condition?.DateLessThan?.['aws:CurrentTime'] === START) && w.some((s) => s.Condition?.DateGreaterThan?.['aws:CurrentTime'] === END) ? 'yes' : 'no')
  add('static', `boundary: valid IAM, no wildcard service prefix, <= ${MANAGED_POLICY_MAX_CHARS} characters (${serialisedLength(docs.boundary)})`, 'yes', () => {
    const problems = boundaryProblems(docs.boundary).filter((p) => !/has a Condition/.test(p))
    return problems.length ? `no: ${problems.join('; ')}` : 'yes'
  })
}

// --------------------------------------------------------------------- trust policy
{
  const T = docs.trust
  for (const principal of G.principals) {
    const caller = callerFor(principal)
    add('trust', `${principal} inside the window, right ExternalId`, 'Allowed', () => assume(T, { caller }))
    add('trust', `${principal} 1 s after start`, 'Allowed', () => assume(T, { caller, now: iso(S + SEC) }))
    add('trust', `${principal} 1 s before end`, 'Allowed', () => assume(T, { caller, now: iso(E - SEC) }))
    add('trust', `${principal} 1 s before start`, 'denied', () => assume(T, { caller, now: iso(S - SEC) }))
    add('trust', `${principal} exactly at start`, 'denied', () => assume(T, { caller, now: START }))
    add('trust', `${principal} exactly at end`, 'denied', () => assume(T, { caller, now: END }))
    add('trust', `${principal} 1 s after end`, 'denied', () => assume(T, { caller, now: iso(E + SEC) }))
    add('trust', `${principal} wrong ExternalId`, 'denied', () => assume(T, { caller, externalId: `${EXT}-x` }))
    add('trust', `${principal} ExternalId in other case`, 'denied', () => assume(T, { caller, externalId: EXT.toUpperCase() === EXT ? EXT.toLowerCase() : EXT.toUpperCase() }))
    add('trust', `${principal} missing ExternalId`, 'denied', () => assume(T, { caller, externalId: null }))
    add('trust', `${principal} sts:TagSession (the trust must not allow it)`, 'denied', () => assume(T, { caller, action: 'sts:TagSession', extra: { 'aws:TagKeys': ['team'], 'aws:RequestTag/team': 'security' } }))
  }
  const others = [
    ['another role of the auditor account', `arn:aws:sts::${AUD}:assumed-role/SomeOtherRole/bob`, [callerAllowsAssume]],
    ['another user of the auditor account', `arn:aws:iam::${AUD}:user/mallory`, [callerAllowsAssume]],
    ['the auditor account root', `arn:aws:iam::${AUD}:root`, [callerAllowsAssume]],
    ['a same-named role in another account', `arn:aws:sts::999988887777:assumed-role/${(G.principals[0] ?? 'x/ExternalAuditor').split('/').pop()}/alice`, [callerAllowsAssume]],
    ["another account's root", 'arn:aws:iam::999988887777:root', [callerAllowsAssume]],
    ["an administrator of the role's own account (identity policy sts:*)", `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/eve`, [allowAllSts]],
    ["the role's own account root", `arn:aws:iam::${ACCOUNT}:root`, [allowAllSts]],
    ['service principal ec2.amazonaws.com', 'ec2.amazonaws.com', []],
    ['service principal lambda.amazonaws.com', 'lambda.amazonaws.com', []]
  ]
  for (const [what, caller, identity] of others) {
    add('trust', `${what}, inside the window, right ExternalId`, 'denied', () => assume(T, { caller, identity }))
  }
  add('trust', 'listed principal, but its own account does not allow sts:AssumeRole on the role', 'denied', () => assume(T, { caller: callerFor(G.principals[0]), identity: [] }))
  excludedCases.push({
    group: 'trust',
    name: 'sts:SetSourceIdentity by a listed principal inside the window with the right ExternalId',
    why: 'AWS authorises sts:SetSourceIdentity inside the AssumeRole call, against the AssumeRole request context, which carries ' +
      'sts:ExternalId (the same holds for sts:TagSession: AWS-created IAM Identity Center roles allow sts:AssumeRoleWithSAML and ' +
      'sts:TagSession in one statement conditioned on SAML:aud). Expected: Allowed exactly when AssumeRole is. iam-simulate ' +
      "drops context keys the Service Authorization Reference does not list for the action (sts:ExternalId is not listed for " +
      'sts:SetSourceIdentity), so every SetSourceIdentity case is decided without the ExternalId: not modelled, not asserted.'
  })
}

// --------------------------------------------------------------------- trust_no_one
{
  const T = docs.trust_no_one
  const callers = [
    ...G.principals.map((p) => [p, callerFor(p), [callerAllowsAssume]]),
    ['the auditor account root', `arn:aws:iam::${AUD}:root`, [callerAllowsAssume]],
    ["another account's root", 'arn:aws:iam::999988887777:root', [callerAllowsAssume]],
    ["an administrator of the role's own account", `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/eve`, [allowAllSts]],
    ['service principal ec2.amazonaws.com', 'ec2.amazonaws.com', []]
  ]
  for (const [what, caller, identity] of callers) {
    for (const action of ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession']) {
      add('trust_no_one', `${what}: ${action}`, 'denied', () => assume(T, { caller, identity, action }))
    }
  }
}

// --------------------------------------------------------------------- auditor_policy (the auditor's own side)
{
  // The policy the view hands the auditor to attach in their own account: with it (and
  // nothing else) their principal assumes exactly the grant's role, inside the window,
  // with the ExternalId; nothing else is allowed by it.
  const auditorPolicy = { name: 'auditor_policy', policy: docs.auditor_policy }
  const caller = callerFor(G.principals[0])
  add('auditor_policy', 'attached alone: sts:AssumeRole on the grant role inside the window', 'Allowed', () =>
    assume(docs.trust, { caller, identity: [auditorPolicy] }))
  add('auditor_policy', 'attached alone: sts:AssumeRole on the grant role with a wrong ExternalId', 'denied', () =>
    assume(docs.trust, { caller, identity: [auditorPolicy], externalId: 'not-the-agreed-one' }))
  add('auditor_policy', 'not attached (the caller has no policy): sts:AssumeRole', 'denied', () =>
    assume(docs.trust, { caller, identity: [] }))
  const otherRole = `arn:aws:iam::${ACCOUNT}:role/OrganizationAccountAccessRole`
  const trustsAuditor = policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${AUD}:root` }, Action: 'sts:AssumeRole' })
  add('auditor_policy', 'sts:AssumeRole on another role that trusts the auditor account', 'denied', () => ({
    ...assume(trustsAuditor, { caller, identity: [auditorPolicy] }),
    resource: otherRole
  }))
  for (const [action, resource] of [
    ['sts:TagSession', ROLE_ARN],
    ['iam:CreateAccessKey', `arn:aws:iam::${AUD}:user/auditor-alice`],
    ['s3:GetObject', `arn:aws:s3:::auditfirm-workpapers/report.pdf`],
    ['sts:AssumeRole', `arn:aws:iam::${AUD}:role/AnyOtherRole`]
  ]) {
    add('auditor_policy', `in the auditor account: ${action}`, 'denied', () => ({
      principal: caller,
      action,
      resource,
      resourceAccount: resource.includes(`::${AUD}:`) || resource.startsWith('arn:aws:s3') ? AUD : ACCOUNT,
      context: principalContext(caller, INSIDE, {}),
      identity: [auditorPolicy]
    }))
  }
}

// --------------------------------------------------------------------- sessions of the grant role: the window
const AUDIT_READS = [
  'cloudtrail:LookupEvents', 'iam:GenerateCredentialReport', 'iam:GetCredentialReport', 'config:SelectResourceConfig',
  'access-analyzer:ListFindings', 'access-analyzer:ListFindingsV2', 'ec2:DescribeInstances', 's3:GetBucketPolicy',
  'iam:GetAccountAuthorizationDetails', 'guardduty:ListFindings', 'securityhub:GetFindings', 'organizations:DescribeOrganization',
  'iam:GetRole', 'kms:GetKeyPolicy', 's3:GetBucketPublicAccessBlock', 'cloudtrail:DescribeTrails', 'config:DescribeConfigRules',
  'ec2:DescribeSecurityGroups', 'rds:DescribeDBInstances', 'logs:DescribeLogGroups', 'dynamodb:DescribeTable',
  'secretsmanager:DescribeSecret', 'lambda:GetFunctionConfiguration', 'ecs:DescribeTaskDefinition', 'sts:GetCallerIdentity'
]
const knownAction = async (a) => Boolean(await catalogEntry(a))
const WINDOW_ACTIONS = ['cloudtrail:LookupEvents', 'ec2:DescribeInstances', 'iam:GetAccountAuthorizationDetails', 's3:GetObject', 'sts:GetCallerIdentity']
for (const p of presets) {
  for (const action of WINDOW_ACTIONS) {
    const r = (now, expected, label) => add('window', `${p.name}: ${action} ${label}`, expected, () => sessionRequest(action, { identity: identityOf(p), now }))
    if (action === 'sts:GetCallerIdentity') {
      // AWS: no permission is needed and no Deny stops it
      r(iso(E + SEC), 'Allowed', '1 s after end (GetCallerIdentity cannot be denied)')
      continue
    }
    r(iso(S - SEC), 'ExplicitlyDenied', '1 s before start')
    r(iso(S - 30 * 24 * 3600 * SEC), 'ExplicitlyDenied', '30 days before start')
    r(iso(E + SEC), 'ExplicitlyDenied', '1 s after end')
    r(iso(E + 365 * 24 * 3600 * SEC), 'ExplicitlyDenied', 'a year after end')
  }
  for (const [label, now] of [['exactly at start', START], ['inside the window', INSIDE], ['exactly at end', END]]) {
    add('window', `${p.name}: ec2:DescribeInstances ${label} (the window deny is strict)`, presetGrants(p.name, 'ec2:DescribeInstances') ? 'Allowed' : 'denied', () => sessionRequest('ec2:DescribeInstances', { identity: identityOf(p), now }))
  }
}

// --------------------------------------------------------------------- revoke_sessions
{
  const at = Date.parse(docs.revoke_sessions.at)
  const revoke = { name: 'AWSRevokeOlderSessions', policy: docs.revoke_sessions.document }
  const now = iso(at + 3600 * SEC)
  const sa = presets.find((p) => p.name === 'security-audit') ?? presets[0]
  for (const action of ['cloudtrail:LookupEvents', 'ec2:DescribeInstances', 'iam:GetAccountAuthorizationDetails', 's3:GetBucketPolicy']) {
    add('revoke', `token issued 1 s before the revocation: ${action}`, 'ExplicitlyDenied', () => sessionRequest(action, { identity: identityOf(sa, revoke), now, tokenIssued: iso(at - SEC) }))
    add('revoke', `token issued 6 h before the revocation: ${action}`, 'ExplicitlyDenied', () => sessionRequest(action, { identity: identityOf(sa, revoke), now, tokenIssued: iso(at - 6 * 3600 * SEC) }))
    add('revoke', `token issued in the second of the revocation: ${action}`, 'ExplicitlyDenied', () => sessionRequest(action, { identity: identityOf(sa, revoke), now, tokenIssued: iso(at) }),
      'IAM compares whole seconds: the cut-off is the next second, so a session issued earlier in that second is covered')
    add('revoke', `token issued 1 s after the revocation second: ${action}`, 'Allowed', () => sessionRequest(action, { identity: identityOf(sa, revoke), now, tokenIssued: iso(at + SEC) }))
  }
}

// --------------------------------------------------------------------- audit reads inside the window
for (const p of presets) {
  for (const action of AUDIT_READS) {
    if (!(await knownAction(action))) {
      excludedCases.push({ group: 'audit-read', name: `${p.name}: ${action}`, why: 'not an IAM action in the Service Authorization Reference (iam-data); authorised as access-analyzer:ListFindings' })
      continue
    }
    const must = p.name === 'security-audit' || presetGrants(p.name, action) || action === 'sts:GetCallerIdentity'
    add('audit-read', `${p.name}: ${action}`, must ? 'Allowed' : 'denied', () => sessionRequest(action, { identity: identityOf(p) }),
      must ? '' : 'the preset does not grant it')
  }
}

// --------------------------------------------------------------------- data-content reads under every preset
const DATA_READ_CASES = [
  's3:GetObject', 's3:GetObjectVersion', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:BatchGetItem',
  'dynamodb:PartiQLSelect', 'secretsmanager:GetSecretValue', 'ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath',
  'kms:Decrypt', 'logs:GetLogEvents', 'logs:FilterLogEvents', 'logs:StartQuery', 'logs:GetQueryResults', 'lambda:GetFunction',
  'lambda:GetLayerVersion', 'ec2:GetLaunchTemplateData', 'ec2:DescribeInstanceAttribute', 'ec2:GetConsoleOutput',
  'ec2:GetConsoleScreenshot', 'ec2:GetPasswordData', 'ssm:GetCommandInvocation', 'ssm:ListCommandInvocations',
  'ssm:GetAutomationExecution', 'states:DescribeExecution', 'states:GetExecutionHistory', 'athena:GetQueryResults',
  'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage', 'ecr:GetAuthorizationToken', 'codecommit:GetFile', 'codecommit:GetBlob',
  'kinesis:GetRecords', 'sqs:ReceiveMessage', 'redshift:GetClusterCredentials', 'rds:DownloadDBLogFilePortion',
  'glacier:GetJobOutput', 'sts:GetSessionToken', 'cloudwatch:GetRecords', 'wafv2:GetSampledRequests'
]
for (const p of presets) {
  for (const action of DATA_READ_CASES) {
    add('data-read', `${p.name}: ${action}`, 'denied', () => sessionRequest(action, { identity: identityOf(p) }))
  }
  add('data-read', `${p.name}: apigateway:GET /apikeys (API key values)`, 'denied', () =>
    sessionRequest('apigateway:GET', { identity: identityOf(p), resource: `arn:aws:apigateway:${REGION}::/apikeys` }))
  add('data-read', `${p.name}: apigateway:GET /apikeys/{id}`, 'denied', () =>
    sessionRequest('apigateway:GET', { identity: identityOf(p), resource: `arn:aws:apigateway:${REGION}::/apikeys/a1b2c3d4e5` }))
  add('audit-read', `${p.name}: apigateway:GET /restapis (API configuration)`, presetGrants(p.name, 'apigateway:GET') ? 'Allowed' : 'denied', () =>
    sessionRequest('apigateway:GET', { identity: identityOf(p), resource: `arn:aws:apigateway:${REGION}::/restapis` }))
  // every other listed data read the preset grants (excluded.mjs), one row per preset
  add('data-read', `${p.name}: every data read of excluded.mjs the preset grants`, 'denied', async () => {
    const granted = [...grants.get(p.name).values()].filter((e) => ALL_DATA_READS.some((d) => actionMatchesPattern(e.action, d)))
    const leaked = []
    for (const e of granted) {
      const req = await sessionRequest(e.action, { identity: identityOf(p) })
      const r = await decide(req)
      if (r.result === 'Allowed' || r.result === 'ERROR' || r.result === 'NOT-MODELLED') leaked.push(`${e.action}=${r.result}`)
    }
    return { result: leaked.length ? 'Allowed' : 'ImplicitlyDenied', detail: leaked.length ? `not denied: ${leaked.join(' ')}` : `${granted.length} actions denied` }
  })
}

// --------------------------------------------------------------------- a broader policy attached out of band
{
  const admin = managedPolicies().policies[ADMINISTRATOR_ACCESS]
  const identity = [{ name: 'AdministratorAccess', policy: admin.document }, windowDeny]
  const assumable = policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' })
  const cases2 = [
    'iam:CreateUser', 'iam:CreateAccessKey', 'iam:AttachRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePermissionsBoundary',
    'iam:UpdateAssumeRolePolicy', 'iam:PassRole', 'sts:AssumeRole', 'sts:GetSessionToken', 'sts:GetFederationToken',
    'sts:TagSession', 's3:PutObject', 'ec2:RunInstances', 'lambda:UpdateFunctionCode', 'kms:Decrypt', 'kms:ScheduleKeyDeletion',
    'secretsmanager:GetSecretValue', 'cloudtrail:StopLogging', 'ssm:SendCommand', 'ec2-instance-connect:SendSSHPublicKey'
  ]
  for (const action of cases2) {
    add('admin-attached', `AdministratorAccess + boundary: ${action}`, 'denied', async () => {
      const req = await sessionRequest(action, { identity })
      if (action === 'sts:AssumeRole') req.resourcePolicy = assumable
      return req
    })
  }
}

// --------------------------------------------------------------------- run
/** Condition keys of the statements that apply to this action, over every policy in the request. */
function relevantConditionKeys(req) {
  const keys = new Set()
  const docsOf = [...(req.identity ?? []).map((p) => p.policy), req.boundary, req.resourcePolicy].filter(Boolean)
  for (const d of docsOf) {
    for (const st of asList(d.Statement)) {
      const applies = st.Action !== undefined ? asList(st.Action).some((p) => actionMatchesPattern(req.action, p)) : !asList(st.NotAction).some((p) => actionMatchesPattern(req.action, p))
      if (!applies) continue
      for (const kv of Object.values(st.Condition ?? {})) for (const k of Object.keys(kv)) keys.add(k.toLowerCase())
    }
  }
  return keys
}

async function decide(req) {
  let got
  for (const resource of req.resources ?? [req.resource]) {
    const resourcePolicy = req.resourcePolicy ?? (resource.includes(':key/') ? DEFAULT_KEY_POLICY : undefined)
    got = await simulate({ ...req, resource, resourcePolicy })
    if (got.result !== 'ERROR') break
  }
  if (got.result === 'ERROR') return got
  const relevant = relevantConditionKeys(req)
  const dropped = got.ignored.filter((k) => relevant.has(k.toLowerCase()))
  if (dropped.length) return { result: 'NOT-MODELLED', detail: `iam-simulate ignored ${dropped.join(', ')}, which a condition of this request depends on` }
  return got
}

const matchesExpected = (expected, actual) =>
  expected === actual || (expected === 'denied' && (actual === 'ExplicitlyDenied' || actual === 'ImplicitlyDenied'))

const rows = []
for (const c of cases) {
  let actual
  let detail = ''
  try {
    const out = await c.run()
    if (typeof out === 'string') actual = out
    else if (out && out.result && !out.principal) ({ result: actual, detail } = out)
    else ({ result: actual, detail } = await decide(out.resources ? out : { ...out, resources: [out.resource] }))
  } catch (e) {
    actual = 'ERROR'
    detail = e.message
  }
  rows.push({ ...c, actual, detail, ok: matchesExpected(c.expected, actual) })
}

const width = Math.min(110, Math.max(...rows.map((r) => r.group.length + r.name.length + 3)))
const pad = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s.padEnd(n))
console.log(`independent IAM evaluation of ${documentsPath()} (iam-simulate, Strict mode; TZ=${process.env.TZ})`)
console.log(`grant: ${ROLE_ARN}; window ${START} .. ${END}; inside = ${INSIDE}; boundary: ${docs.boundary_source ?? 'the documents\' one'}\n`)
console.log(`${pad('case', width)}  ${pad('expected', 16)}  ${pad('actual', 16)}  ok`)
console.log(`${'-'.repeat(width)}  ${'-'.repeat(16)}  ${'-'.repeat(16)}  ----`)
for (const r of rows) console.log(`${pad(`[${r.group}] ${r.name}`, width)}  ${pad(r.expected, 16)}  ${pad(r.actual, 16)}  ${r.ok ? 'ok' : 'FAIL'}`)

const failed = rows.filter((r) => !r.ok)
if (failed.length) {
  console.log('\nfailures:')
  for (const r of failed) console.log(`  [${r.group}] ${r.name}: expected ${r.expected}, got ${r.actual}${r.detail ? ` (${r.detail})` : ''}${r.note ? ` — ${r.note}` : ''}`)
}
if (excludedCases.length) {
  console.log('\nnot asserted (the simulator cannot model them):')
  const seen = new Set()
  for (const x of excludedCases) {
    console.log(`  [${x.group}] ${x.name}`)
    if (!seen.has(x.why)) console.log(`      why: ${x.why}`)
    seen.add(x.why)
  }
}
const byGroup = {}
for (const r of rows) {
  byGroup[r.group] ??= { passed: 0, failed: 0 }
  byGroup[r.group][r.ok ? 'passed' : 'failed']++
}
console.log(`\nby group: ${Object.entries(byGroup).map(([g, v]) => `${g} ${v.passed}/${v.passed + v.failed}`).join(', ')}`)
console.log(`iam-evaluator: ${rows.length - failed.length} passed, ${failed.length} failed`)
process.exit(failed.length ? 1 : 0)
