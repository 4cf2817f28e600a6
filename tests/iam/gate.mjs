// The IAM gate: an HTTP proxy in front of the emulator (moto) that decides,
// with the independent evaluator (@cloud-copilot/iam-simulate, see sim.mjs),
// whether IAM would allow each request it receives, from the policies the
// emulator really holds, and answers a refusal the way AWS does (query
// protocol XML, or the JSON protocols' AccessDeniedException) instead of
// forwarding it. moto itself evaluates no policy: the gate is what lets the
// auditor's side (`audit-grants check-access`) be shown end to end locally.
//
//   node tests/iam/gate.mjs --upstream http://127.0.0.1:5000 [--port 0]
//   prints "iam-gate listening on http://127.0.0.1:PORT" once it listens.
//
// What it models, per request:
//  - the caller, from the request's access key (moto's GetCallerIdentity);
//  - sts:AssumeRole: the caller's identity policies (a role's inline and
//    attached policies, or a user's) and the target role's trust policy as the
//    resource policy, with sts:ExternalId, sts:SourceIdentity and the time;
//  - any other call by an assumed-role session: the role's inline and attached
//    policies and its permissions boundary, with aws:CurrentTime and
//    aws:TokenIssueTime (recorded when the gate saw the AssumeRole);
//  - sts:GetCallerIdentity is never denied (as in AWS).
// What it does not model (answered 501, never silently allowed): REST
// protocols (S3 and the like), SCPs and RCPs, session policies, and
// sts:SetSourceIdentity (the evaluator drops sts:ExternalId for it; the IAM
// evaluation table covers the trust for it).
import http from 'node:http'
import { principalContext, simulate } from './lib/sim.mjs'

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
)
const upstream = new URL(args.upstream ?? process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:5000')
const port = Number(args.port ?? 0)
const verbose = Boolean(process.env.IAM_GATE_VERBOSE)

/** Session access key -> { issued, sourceIdentity }, recorded from AssumeRole answers. */
const sessions = new Map()
const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

function send(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: upstream.hostname, port: upstream.port, method, path, headers: { ...headers, host: upstream.host } },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      }
    )
    req.on('error', reject)
    req.end(body)
  })
}

const xmlDecode = (s) =>
  s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
const tag = (xml, name) => {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)
  return m ? xmlDecode(m[1]) : undefined
}
const tags = (xml, name) => [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => xmlDecode(m[1]))
const doc = (text) => JSON.parse(text.trim().startsWith('%') ? decodeURIComponent(text) : text)

/** A query-protocol call to the emulator in `account`, as the emulator's admin. */
async function query(service, account, params, accessKey = 'testing') {
  const body = new URLSearchParams({ ...params, Version: service === 'sts' ? '2011-06-15' : '2010-05-08' }).toString()
  const res = await send('POST', '/', {
    'content-type': 'application/x-www-form-urlencoded',
    ...(account ? { 'x-moto-account-id': account } : {}),
    authorization: `AWS4-HMAC-SHA256 Credential=${accessKey}/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`
  }, body)
  const text = res.body.toString()
  if (res.status >= 300) throw Object.assign(new Error(`${service}:${params.Action} -> ${res.status} ${tag(text, 'Code')}: ${tag(text, 'Message')}`), { code: tag(text, 'Code') })
  return text
}

async function callerOf(accessKey) {
  const text = await query('sts', undefined, { Action: 'GetCallerIdentity' }, accessKey)
  return tag(text, 'Arn')
}

async function managedPolicy(account, arn) {
  const policy = await query('iam', account, { Action: 'GetPolicy', PolicyArn: arn })
  const version = await query('iam', account, { Action: 'GetPolicyVersion', PolicyArn: arn, VersionId: tag(policy, 'DefaultVersionId') })
  return doc(tag(version, 'Document'))
}

/** The identity policies of a role or user, and a role's boundary and trust. */
async function policiesOf(kind, account, name) {
  const K = kind === 'role' ? 'Role' : 'User'
  const identity = []
  const inline = await query('iam', account, { Action: `List${K}Policies`, [`${K}Name`]: name })
  for (const p of tags(inline, 'member')) {
    const got = await query('iam', account, { Action: `Get${K}Policy`, [`${K}Name`]: name, PolicyName: p })
    identity.push({ name: p, policy: doc(tag(got, 'PolicyDocument')) })
  }
  const attached = await query('iam', account, { Action: `ListAttached${K}Policies`, [`${K}Name`]: name })
  for (const arn of tags(attached, 'PolicyArn')) identity.push({ name: arn, policy: await managedPolicy(account, arn) })
  let boundary, trust, arn
  if (kind === 'role') {
    const role = await query('iam', account, { Action: 'GetRole', RoleName: name })
    arn = tag(role, 'Arn')
    trust = doc(tag(role, 'AssumeRolePolicyDocument'))
    const b = tag(role, 'PermissionsBoundaryArn')
    if (b) boundary = await managedPolicy(account, b)
  }
  return { identity, boundary, trust, arn }
}

/** The caller's IAM identity: kind, account, name, and the session's role. */
function identityOf(arn) {
  const m = /^arn:aws:(?:iam|sts)::(\d{12}):(assumed-role\/([^/]+)\/.+|user\/(?:.*\/)?([^/]+)|root)$/.exec(arn)
  if (!m) return undefined
  if (m[3]) return { kind: 'role', account: m[1], name: m[3] }
  if (m[4]) return { kind: 'user', account: m[1], name: m[4] }
  return { kind: 'root', account: m[1] }
}

/** The action and its parameters, from the query protocol or the JSON protocols. */
function actionOf(req, body, service) {
  const target = req.headers['x-amz-target']
  if (target) return { action: `${service}:${target.split('.').pop()}`, params: body.length ? JSON.parse(body) : {}, json: true }
  const text = req.method === 'GET' ? new URL(req.url, 'http://x').search.slice(1) : body.toString()
  const params = Object.fromEntries(new URLSearchParams(text))
  return params.Action ? { action: `${service}:${params.Action}`, params, json: false } : undefined
}

/** The resource ARN IAM authorises the action on. */
async function resourceOf(action, params, account, region) {
  switch (action) {
    case 'sts:AssumeRole':
      return params.RoleArn
    case 'iam:ListRoleTags':
    case 'iam:GetRole':
    case 'iam:ListAttachedRolePolicies':
    case 'iam:ListRolePolicies': {
      try {
        return tag(await query('iam', account, { Action: 'GetRole', RoleName: params.RoleName }), 'Arn')
      } catch {
        return `arn:aws:iam::${account}:role/${params.RoleName}`
      }
    }
    case 'secretsmanager:GetSecretValue':
    case 'secretsmanager:DescribeSecret':
      return params.SecretId?.startsWith('arn:') ? params.SecretId : `arn:aws:secretsmanager:${region}:${account}:secret:${params.SecretId}`
    case 'iam:SimulatePrincipalPolicy':
      return params.PolicySourceArn
    default:
      return '*'
  }
}

function refuse(res, { json, service, action, principal, resource, reason }) {
  const message = `User: ${principal} is not authorized to perform: ${action}${resource === '*' ? '' : ` on resource: ${resource}`}${reason ? ` ${reason}` : ''}`
  if (verbose) console.error(`iam-gate: DENY ${action} ${resource} for ${principal} ${reason ?? ''}`)
  if (json) {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'AccessDeniedException' })
    res.end(JSON.stringify({ __type: 'AccessDeniedException', Message: message }))
    return
  }
  const ns = service === 'sts' ? 'https://sts.amazonaws.com/doc/2011-06-15/' : `https://${service}.amazonaws.com/doc/2010-05-08/`
  const esc = message.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  res.writeHead(403, { 'content-type': 'text/xml' })
  res.end(`<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${esc}</Message></Error><RequestId>iam-gate</RequestId></ErrorResponse>`)
}

function notModelled(res, why) {
  if (verbose) console.error(`iam-gate: NOT MODELLED ${why}`)
  res.writeHead(501, { 'content-type': 'text/plain' })
  res.end(`iam-gate: not modelled: ${why}`)
}

/** Decides one request: undefined to forward it, or the refusal to answer. */
async function decide(req, body) {
  const auth = req.headers.authorization ?? ''
  const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(auth)
  if (!scope) return { notModelled: 'unsigned request' }
  const [, accessKey, region, service] = scope
  const call = actionOf(req, body, service)
  if (!call) return { notModelled: `${service} ${req.method} ${req.url} (a REST protocol)` }
  if (call.action === 'sts:GetCallerIdentity') return undefined
  const principal = await callerOf(accessKey)
  const who = identityOf(principal ?? '')
  if (!who || who.kind === 'root') return { notModelled: `caller ${principal}` }
  const now = nowIso()
  if (call.action === 'sts:AssumeRole') {
    const target = identityOf(call.params.RoleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/') + '/x')
    const caller = await policiesOf(who.kind, who.account, who.name)
    let trust
    try {
      trust = (await policiesOf('role', target.account, call.params.RoleArn.split('/').pop())).trust
    } catch (e) {
      // A role that does not exist: STS answers exactly as for a refused trust.
      if (e.code === 'NoSuchEntity') return { principal, resource: call.params.RoleArn }
      throw e
    }
    const context = principalContext(principal, now, {
      ...(call.params.ExternalId !== undefined ? { 'sts:ExternalId': call.params.ExternalId } : {}),
      ...(call.params.SourceIdentity !== undefined ? { 'sts:SourceIdentity': call.params.SourceIdentity } : {})
    })
    const r = await simulate({
      principal,
      action: 'sts:AssumeRole',
      resource: call.params.RoleArn,
      resourceAccount: target.account,
      context,
      identity: caller.identity,
      resourcePolicy: trust
    })
    if (r.result === 'ERROR') return { notModelled: `sts:AssumeRole: ${r.detail}` }
    if (r.result === 'Allowed') return undefined
    // Whose side refused: the caller's own policies alone (as if the role
    // were in the caller's account, where no trust is needed beyond them).
    const own = await simulate({
      principal,
      action: 'sts:AssumeRole',
      resource: call.params.RoleArn,
      resourceAccount: who.account,
      context,
      identity: caller.identity
    })
    // STS names the reason only when it is on the caller's side; a trust
    // refusal says nothing more (outsiders cannot probe the role).
    const reason = own.result === 'Allowed' ? undefined
      : own.result === 'ExplicitlyDenied' ? 'with an explicit deny in an identity-based policy'
      : 'because no identity-based policy allows the sts:AssumeRole action'
    return { principal, resource: call.params.RoleArn, reason }
  }
  if (who.kind !== 'role') return { notModelled: `${call.action} by ${principal} (only role sessions are modelled beyond sts:AssumeRole)` }
  const role = await policiesOf('role', who.account, who.name)
  const session = sessions.get(accessKey)
  const context = principalContext(principal, now, {
    'aws:PrincipalArn': role.arn,
    ...(session ? { 'aws:TokenIssueTime': session.issued } : {}),
    ...(session?.sourceIdentity ? { 'aws:SourceIdentity': session.sourceIdentity } : {})
  })
  const resource = await resourceOf(call.action, call.params, who.account, region)
  const r = await simulate({
    principal,
    action: call.action,
    resource,
    resourceAccount: who.account,
    context,
    identity: role.identity,
    boundary: role.boundary
  })
  if (r.result === 'ERROR') return { notModelled: `${call.action}: ${r.detail}` }
  if (r.result === 'Allowed') return undefined
  const reason = r.result === 'ExplicitlyDenied'
    ? `with an explicit deny in ${/boundary/.test(r.detail) ? 'a permissions boundary' : 'an identity-based policy'}`
    : `because no identity-based policy allows the ${call.action} action`
  return { principal, resource, reason, json: call.json, service, action: call.action }
}

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', async () => {
    const body = Buffer.concat(chunks)
    try {
      const decision = await decide(req, body)
      if (decision?.notModelled) return notModelled(res, decision.notModelled)
      if (decision) {
        const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(req.headers.authorization ?? '')
        const call = actionOf(req, body, scope[1])
        return refuse(res, { json: call.json, service: scope[1], action: call.action, ...decision })
      }
      const up = await send(req.method, req.url, req.headers, body)
      const text = up.body.toString()
      if (up.status === 200 && /<AssumeRoleResponse/.test(text)) {
        const params = Object.fromEntries(new URLSearchParams(body.toString()))
        sessions.set(tag(text, 'AccessKeyId'), { issued: nowIso(), sourceIdentity: params.SourceIdentity })
      }
      res.writeHead(up.status, up.headers)
      res.end(up.body)
    } catch (e) {
      if (verbose) console.error(`iam-gate: ERROR ${e.stack}`)
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`iam-gate: ${e.message}`)
    }
  })
})
server.listen(port, '127.0.0.1', () => {
  console.log(`iam-gate listening on http://127.0.0.1:${server.address().port}`)
})
