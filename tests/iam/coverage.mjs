// How much of each preset survives the permissions boundary, and that nothing
// the SPEC excludes does.
//
// For each preset: expand its AWS managed policy to concrete actions (iam-data),
// drop the excluded ones (excluded.mjs: writes by access level, data-content
// reads by name), and decide for the rest whether the boundary allows them.
// Decisions come from action-pattern matching (lib/boundary.mjs), which equals
// IAM's for a boundary without conditions; every decision is cross-checked with
// iam-simulate (identity Allow * + the boundary) unless --fast.
//
// Usage: node coverage.mjs <iam-documents.json> [--min 90] [--boundary file.json] [--top 15] [--fast]
//   --boundary (or $IAM_BOUNDARY): measure that boundary instead of the documents' one
// Exit 1 if a preset's share < --min, if the boundary allows an excluded action a
// preset grants, if the boundary is invalid or too large, or if iam-simulate
// disagrees with (or cannot evaluate) a decision.
import { actionsOfService, allowedActionsOf, allServices, catalogVersion, actionMatchesPattern } from './lib/catalog.mjs'
import { boundaryDecision, boundaryProblems, exampleResources, serialisedLength, MANAGED_POLICY_MAX_CHARS } from './lib/boundary.mjs'
import { documentsPath, flag, loadDocuments, managedPolicies, option, presetDocument } from './lib/documents.mjs'
import { principalContext, simulate } from './lib/sim.mjs'
import { ALL_DATA_READS, KEPT_ON_PURPOSE, exclusionReason } from './excluded.mjs'

const file = documentsPath()
const docs = loadDocuments(file)
const min = Number(option('min', '90'))
const top = Number(option('top', '15'))
const boundary = docs.boundary
const boundaryFile = docs.boundary_source
const failures = []
const DEFAULT_KEY_POLICY = (account) => ({
  Version: '2012-10-17',
  Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }]
})

console.log(`coverage of ${boundaryFile ?? `${file} (boundary)`}`)
console.log(`${await catalogVersion()}; managed policies: ${managedPolicies().source}`)

// the boundary itself
const size = serialisedLength(boundary)
const problems = boundaryProblems(boundary)
console.log(`boundary: ${size} characters serialised without whitespace (IAM limit ${MANAGED_POLICY_MAX_CHARS}); ${problems.length ? 'INVALID' : 'valid'}`)
for (const p of problems) failures.push(`boundary: ${p}`)

// the excluded list names real actions
const unknownData = []
for (const p of ALL_DATA_READS) {
  const service = p.split(':')[0]
  if (!(await actionsOfService(service)).some((e) => actionMatchesPattern(e.action, p))) unknownData.push(p)
}
if (unknownData.length) console.log(`note: data-read entries unknown to iam-data (kept for other catalog versions): ${unknownData.join(' ')}`)

const union = new Map()
const rows = []
for (const [preset, arn] of Object.entries(docs.presets)) {
  const managed = presetDocument(arn)
  const { actions, unknownPatterns } = await allowedActionsOf(managed.document)
  let excludedWrites = 0
  const excludedData = {}
  const remaining = []
  const violations = []
  for (const e of actions.values()) {
    union.set(e.action, e)
    const why = exclusionReason(e)
    const decision = boundaryDecision(boundary, e.action)
    if (why) {
      if (why.startsWith('write')) excludedWrites++
      else excludedData[why.slice(6)] = (excludedData[why.slice(6)] ?? 0) + 1
      if (decision.decision === 'allowed') violations.push(`${e.action} (${why})`)
    } else {
      remaining.push({ ...e, decision })
    }
  }
  const allowed = remaining.filter((e) => e.decision.decision === 'allowed')
  const missing = remaining.filter((e) => e.decision.decision !== 'allowed')
  const share = remaining.length ? (100 * allowed.length) / remaining.length : 100
  const excludedCount = actions.size - remaining.length
  rows.push({ preset, arn, version: managed.version, total: actions.size, excludedCount, excludedWrites, excludedData, remaining: remaining.length, allowed: allowed.length, share, missing, violations, unknownPatterns })
  if (share < min) failures.push(`${preset}: ${share.toFixed(2)}% of its remaining actions survive the boundary (< ${min}%)`)
  for (const v of violations) failures.push(`${preset}: the boundary allows excluded ${v}`)
}

console.log('\n| preset | policy version | total actions | excluded (writes + data reads) | remaining | allowed by boundary | share |')
console.log('|---|---|---:|---:|---:|---:|---:|')
for (const r of rows) {
  const dataTotal = Object.values(r.excludedData).reduce((a, b) => a + b, 0)
  console.log(`| ${r.preset} | ${r.version} | ${r.total} | ${r.excludedCount} (${r.excludedWrites} + ${dataTotal}) | ${r.remaining} | ${r.allowed} | ${r.share.toFixed(2)}% |`)
}
for (const r of rows) {
  console.log(`\n${r.preset} (${r.arn}):`)
  console.log(`  data reads excluded by category: ${Object.entries(r.excludedData).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`)
  if (r.unknownPatterns.length) console.log(`  policy entries unknown to iam-data (not counted): ${r.unknownPatterns.join(' ')}`)
  if (r.missing.length) {
    const byService = {}
    for (const e of r.missing) byService[e.action.split(':')[0]] = (byService[e.action.split(':')[0]] ?? 0) + 1
    console.log(`  missing by service: ${Object.entries(byService).sort((a, b) => b[1] - a[1]).slice(0, top).map(([s, n]) => `${s} ${n}`).join(', ')}`)
    console.log(`  top missing actions: ${r.missing.map((e) => e.action).sort().slice(0, top).join(' ')}${r.missing.length > top ? ` ... (${r.missing.length - top} more)` : ''}`)
  } else {
    console.log('  missing: none')
  }
  console.log(`  excluded actions the boundary allows: ${r.violations.length ? r.violations.join(', ') : 'none'}`)
}

const partial = [...union.values()].filter((e) => !exclusionReason(e) && boundaryDecision(boundary, e.action).partialDeny.length)
if (partial.length) console.log(`\nallowed except on some resources (resource-scoped Deny): ${partial.map((e) => `${e.action} [${boundaryDecision(boundary, e.action).partialDeny.join(',')}]`).join(' ')}`)
console.log(`kept on purpose (docs/boundary.md): ${Object.keys(KEPT_ON_PURPOSE).map((a) => `${a}=${boundaryDecision(boundary, a).decision}`).join(' ')}`)

// whatever is attached (AdministratorAccess out of band): which excluded actions of the
// whole catalog would the boundary still let through? IAM and STS must be none.
{
  const leaks = new Map()
  let excludedTotal = 0
  for (const service of await allServices()) {
    for (const e of await actionsOfService(service)) {
      if (!exclusionReason(e)) continue
      excludedTotal++
      if (boundaryDecision(boundary, e.action).decision === 'allowed') {
        if (!leaks.has(service)) leaks.set(service, [])
        leaks.get(service).push(e.action)
      }
    }
  }
  const leaked = [...leaks.values()].reduce((n, l) => n + l.length, 0)
  const closedish = (await allServices()).length - leaks.size
  console.log(`\nwith AdministratorAccess attached: the boundary lets ${leaked} of the catalog's ${excludedTotal} excluded actions through, in ${leaks.size} services; in ${closedish} services none`)
  for (const s of ['iam', 'sts']) {
    if (leaks.has(s)) failures.push(`the boundary allows ${s} writes or credential calls when a broader policy is attached: ${leaks.get(s).join(' ')}`)
  }
  for (const a of ['s3:PutObject', 'ec2:RunInstances', 'lambda:UpdateFunctionCode', 'kms:Decrypt', 'secretsmanager:GetSecretValue']) {
    console.log(`  ${a}: ${boundaryDecision(boundary, a).decision}`)
  }
}

// cross-check every decision with iam-simulate
if (!flag('fast')) {
  const principal = `arn:aws:sts::${docs.grant.account}:assumed-role/${docs.grant.role_arn.split('/').pop()}/auditor`
  const inside = new Date((Date.parse(docs.grant.start) + Date.parse(docs.grant.end)) / 2).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const admin = [{ name: 'AllowEverything', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }]
  let agree = 0
  const disagree = []
  const errors = []
  const t0 = Date.now()
  for (const e of [...union.values()].sort((a, b) => (a.action < b.action ? -1 : 1))) {
    const expected = boundaryDecision(boundary, e.action).decision === 'allowed' ? 'Allowed' : 'denied'
    let got
    // KMS keys need their key policy to allow the account (the default key policy);
    // '*' is the last resort for an action whose example ARN fits several resource types
    const resourcePolicy = e.action.startsWith('kms:') ? DEFAULT_KEY_POLICY(docs.grant.account) : undefined
    for (const resource of [...(await exampleResources(e, docs.grant.account)), '*']) {
      got = await simulate({ principal, action: e.action, resource, resourceAccount: docs.grant.account, context: principalContext(principal, inside), identity: admin, boundary, resourcePolicy: resource.includes(':key/') ? resourcePolicy : undefined })
      if (got.result !== 'ERROR') break
    }
    if (got.result === 'ERROR') errors.push(`${e.action}: ${got.detail}`)
    else if ((got.result === 'Allowed') === (expected === 'Allowed')) agree++
    else disagree.push(`${e.action}: pattern matching ${expected}, iam-simulate ${got.result}`)
  }
  console.log(`\niam-simulate cross-check (identity Allow * + boundary) over ${union.size} preset actions: ${agree} agree, ${disagree.length} disagree, ${errors.length} simulator errors (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  for (const d of disagree.slice(0, 20)) failures.push(`cross-check: ${d}`)
  for (const d of errors.slice(0, 20)) failures.push(`cross-check error: ${d}`)
  if (disagree.length > 20 || errors.length > 20) failures.push(`cross-check: ${disagree.length + errors.length - 40} more`)
}

if (failures.length) {
  console.log(`\nFAILED (${failures.length}):\n  ${failures.join('\n  ')}`)
  console.log(`iam-coverage: FAILED (min ${min}%)`)
  process.exit(1)
}
console.log(`\niam-coverage: OK (every preset >= ${min}%, no excluded action allowed)`)
