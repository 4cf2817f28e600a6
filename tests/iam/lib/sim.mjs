// One IAM decision with @cloud-copilot/iam-simulate, with the caveats the
// evaluator research found (see README.md):
//  - runSimulation in Strict mode only (never runUnsafeSimulation);
//  - resultType 'error' (invalid policy or request) is a failure, never a deny;
//  - every Date* condition value in every policy, and every date in the request
//    context, must be ISO-8601 UTC "YYYY-MM-DDTHH:MM:SSZ" (the tool mis-compares
//    epoch seconds with ISO dates, and parses zone-less dates in local time);
//  - the tool derives no context keys: the caller supplies every one AWS would set;
//  - the tool drops context keys the Service Authorization Reference does not list
//    for the action (reported as ignoredContextKeys): a case that relies on one is
//    not modelled and must not be asserted.
import { runSimulation } from '@cloud-copilot/iam-simulate'

export const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** Throws unless every Date* condition value in the policy is ISO-8601 UTC with a Z. */
export function assertIsoDates(policy, label = 'policy') {
  for (const st of asList(policy?.Statement)) {
    for (const [op, kv] of Object.entries(st.Condition ?? {})) {
      if (!/date/i.test(op)) continue
      for (const [key, vals] of Object.entries(kv)) {
        for (const v of asList(vals)) {
          if (!ISO_Z.test(String(v))) throw new Error(`${label}: ${op} ${key} = '${v}' is not YYYY-MM-DDTHH:MM:SSZ (iam-simulate mis-compares other formats)`)
        }
      }
    }
  }
}

/** Context keys AWS sets for a request by this principal, at this time. */
export function principalContext(principal, now, extra = {}) {
  const ctx = { 'aws:CurrentTime': now, 'aws:EpochTime': String(Math.floor(Date.parse(now) / 1000)), 'aws:SecureTransport': 'true' }
  const m = /^arn:aws:(iam|sts)::(\d{12}):(.*)$/.exec(principal)
  if (m) {
    ctx['aws:PrincipalAccount'] = m[2]
    const session = /^assumed-role\/([^/]+)\/(.+)$/.exec(m[3])
    if (session) {
      ctx['aws:PrincipalArn'] = `arn:aws:iam::${m[2]}:role/${session[1]}`
      ctx['aws:PrincipalType'] = 'AssumedRole'
      ctx['aws:userid'] = `AROAEXAMPLE:${session[2]}`
    } else {
      ctx['aws:PrincipalArn'] = principal
      ctx['aws:PrincipalType'] = m[3] === 'root' ? 'Account' : m[3].startsWith('user/') ? 'User' : 'AssumedRole'
    }
  } else if (/\.amazonaws\.com$/.test(principal)) {
    ctx['aws:PrincipalIsAWSService'] = 'true'
    ctx['aws:PrincipalServiceName'] = principal
  }
  for (const [k, v] of Object.entries({ ...ctx, ...extra })) {
    if (v === undefined) delete ctx[k]
    else ctx[k] = v
  }
  for (const k of ['aws:CurrentTime', 'aws:TokenIssueTime']) {
    if (ctx[k] !== undefined && !ISO_Z.test(ctx[k])) throw new Error(`context ${k} = '${ctx[k]}' is not YYYY-MM-DDTHH:MM:SSZ`)
  }
  return ctx
}

/**
 * Simulate one request. opts: { principal, action, resource, resourceAccount,
 * context, identity: [{name, policy}], boundary: policy, resourcePolicy }.
 * Returns { result: 'Allowed'|'ExplicitlyDenied'|'ImplicitlyDenied'|'ERROR', detail, ignored }.
 */
export async function simulate(opts) {
  const policies = [
    ...(opts.identity ?? []).map((p) => [`identity ${p.name}`, p.policy]),
    ...(opts.boundary ? [['boundary', opts.boundary]] : []),
    ...(opts.resourcePolicy ? [['resource policy', opts.resourcePolicy]] : [])
  ]
  try {
    for (const [label, p] of policies) assertIsoDates(p, label)
  } catch (e) {
    return { result: 'ERROR', detail: e.message, ignored: [] }
  }
  const simulation = {
    request: {
      principal: opts.principal,
      action: opts.action,
      resource: { resource: opts.resource, accountId: opts.resourceAccount },
      contextVariables: opts.context ?? {}
    },
    identityPolicies: opts.identity ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(opts.boundary ? { permissionBoundaryPolicies: [{ name: 'boundary', policy: opts.boundary }] } : {}),
    ...(opts.resourcePolicy ? { resourcePolicy: opts.resourcePolicy } : {})
  }
  let r
  try {
    r = await runSimulation(simulation, { simulationMode: 'Strict' })
  } catch (e) {
    return { result: 'ERROR', detail: `threw ${e.message}`, ignored: [] }
  }
  if (r.resultType === 'error') return { result: 'ERROR', detail: JSON.stringify(r.errors), ignored: [] }
  const one = r.resultType === 'single' ? r.result : r.results?.[0]
  const ignored = one?.ignoredContextKeys ?? []
  const blockedBy = one?.analysis?.blockedBy ?? []
  const detail = [blockedBy.length ? `blockedBy=${blockedBy.join(',')}` : '', ignored.length ? `ignoredContextKeys=${ignored.join(',')}` : '']
    .filter(Boolean)
    .join('; ')
  return { result: r.overallResult, detail, ignored }
}
