// Generates the permissions boundary every grant role carries (src/permissions-boundary.json) from
//   - the presets' AWS managed policies (managed-policies.json),
//   - the excluded set (excluded.mjs: writes by access level + data-content reads),
//   - the lists of closed services below (REQUIRED_CLOSED, OPTIONAL_CLOSED),
// and checks it is valid IAM and <= 6144 characters. By construction it removes
// every excluded action a preset grants and keeps every other one (coverage.mjs
// measures both; evaluate.mjs checks the cases).
//
// Shape (docs/boundary.md explains why):
//   1 OpenServices        Allow NotAction ["<closed>:*", ...]  -> every action of every other service
//   2 ClosedServiceReads  Allow ["<closed>:Describe*", ...]     -> reads only, in the closed services
//   3 DenyExcluded        Deny  [...]                           -> data reads, the writes presets grant, and
//                                                                  every IAM/STS write and credential call
//   4 DenyApiKeys         Deny apigateway:GET on /apikeys*
// In a closed service nothing but the listed read patterns passes, whatever
// policy is attached: its writes (and new APIs) fail closed.
//
// Usage: node make-boundary.mjs [--shape hybrid|read-only] [--out FILE] [--check] [--compare]
//   default (hybrid): src/permissions-boundary.json, the one the product ships;
//   --shape read-only: tests/iam/read-only-boundary.json, the stricter alternative (docs/boundary.md).
//   --compare: print size, coverage and leaks of the three possible shapes (no file written).
//   --check: do not write; exit 1 if the file on disk differs from what would be generated.
import fs from 'node:fs'
import path from 'node:path'
import { actionMatchesPattern, actionsOfService, allowedActionsOf, allServices, catalogVersion } from './lib/catalog.mjs'
import { boundaryDecision, boundaryProblems, serialisedLength, MANAGED_POLICY_MAX_CHARS } from './lib/boundary.mjs'
import { HERE, managedPolicies, option, flag, ADMINISTRATOR_ACCESS } from './lib/documents.mjs'
import { DENIED_WHEN_OPEN, RESOURCE_SCOPED_DENIES, exclusionReason } from './excluded.mjs'

/**
 * Services where the boundary allows reads only (fail closed): nothing but the
 * read patterns it lists passes, whatever policy is attached, so their writes
 * and any API AWS adds later stay out. REQUIRED: identity, credentials, keys and
 * secrets, the audit trail and the services whose writes do the most harm; the
 * generator fails if they do not fit. OPTIONAL, in priority order: added while
 * the document stays within the limit minus HEADROOM (room for AWS to grow the presets).
 */
export const REQUIRED_CLOSED = [
  // identity, credentials, keys and secrets
  'iam', 'sts', 'sso', 'identitystore', 'organizations', 'account', 'kms', 'secretsmanager', 'ssm',
  // the audit trail and detective controls
  'cloudtrail', 'config', 'guardduty', 'securityhub', 'access-analyzer', 'logs',
  // storage, compute and code
  's3', 'ec2', 'lambda',
  // data planes and access brokers with nothing an auditor reads: closed entirely
  // (shells on instances, database connections, API invocations, session credentials)
  'ec2-instance-connect', 'ssmmessages', 'ssm-guiconnect', 'rds-db', 'redshift-data', 'neptune-db',
  'execute-api', 'sso-oauth', 'cloudshell', 'ebs', 'cassandra'
]
export const OPTIONAL_CLOSED = [
  // services that run code or jobs with a role of their own: open, a role that may
  // start them could act as that role (the boundary denies iam:PassRole, not Start*)
  'ecs', 'eks', 'codebuild', 'states', 'batch', 'codepipeline', 'glue', 'sagemaker', 'airflow', 'scheduler',
  'datapipeline', 'emr-serverless', 'emr-containers', 'elasticmapreduce', 'apprunner', 'amplify', 'cloudformation',
  // data stores and data planes that cost (almost) nothing to close
  'dynamodb', 'dax', 'sqs', 'ec2messages', 'sdb', 'rds', 'qldb', 's3express', 's3vectors', 'ecr',
  // backups, DNS and the remaining detective and protective controls
  'backup', 'route53', 'events', 'cloudwatch', 'inspector2', 'macie2', 'detective', 'wafv2', 'network-firewall',
  'fms', 'shield', 'ram', 'acm', 'acm-pca', 'sns', 'kinesis', 'firehose', 'apigateway', 'elasticloadbalancing',
  'autoscaling', 'cloudfront', 'codecommit', 'elasticfilesystem', 'elasticache', 'redshift', 'es', 'athena',
  'bedrock', 'cognito-idp', 'sso-directory', 'tag', 'health', 'support', 'trustedadvisor'
]
/**
 * Characters kept free below IAM's limit: another partition in the API-key ARNs
 * ("aws-us-gov" is 7 characters longer, twice). When AWS grows the presets,
 * regenerating drops the lowest-priority optional services to fit.
 */
export const HEADROOM = 32

/** Services whose every excluded action is also denied explicitly (not only by omission). */
export const EXPLICIT_DENY_SERVICES = ['iam', 'sts']

const cost = (s) => s.length + 3 // quotes and comma in compact JSON

/** Name split into words: "GetObjectVersion" -> ["Get", "Object", "Version"]. */
const wordsOf = (name) => name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+/g) ?? [name]

/**
 * Greedy cover: patterns (and exact names) covering every target, using only
 * patterns for which safe(pattern) holds. extraCost(pattern) adds what a pattern
 * costs elsewhere (e.g. denies it makes necessary). Returns the chosen entries.
 */
function cover(service, targets, safe, extraCost = () => 0, { wholeService = false, suffixes = true } = {}) {
  const remaining = new Set(targets)
  const candidates = new Set(wholeService ? [`${service}:*`] : [])
  for (const a of targets) {
    const words = wordsOf(a.split(':')[1])
    for (let i = 1; i < words.length; i++) {
      candidates.add(`${service}:${words.slice(0, i).join('')}*`)
      if (suffixes) candidates.add(`${service}:*${words.slice(i).join('')}`)
    }
  }
  const scored = [...candidates]
    .filter(safe)
    .map((p) => ({ p, covers: targets.filter((a) => actionMatchesPattern(a, p)), extra: extraCost(p) }))
    .filter((c) => c.covers.length >= 1)
  const out = []
  while (true) {
    let best
    for (const c of scored) {
      const live = c.covers.filter((a) => remaining.has(a))
      const saving = live.reduce((n, a) => n + cost(a), 0) - cost(c.p) - c.extra
      if (live.length >= 1 && saving > 0 && (!best || saving > best.saving || (saving === best.saving && c.p < best.p))) best = { ...c, live, saving }
    }
    if (!best) break
    out.push(best.p)
    best.live.forEach((a) => remaining.delete(a))
  }
  return [...out.sort(), ...[...remaining].sort()]
}

/** Every action a preset grants (union over the presets; AdministratorAccess is not a preset). */
export async function presetUnion() {
  const union = new Map()
  for (const [arn, p] of Object.entries(managedPolicies().policies)) {
    if (arn === ADMINISTRATOR_ACCESS) continue
    for (const [a, e] of (await allowedActionsOf(p.document)).actions) union.set(a, e)
  }
  return union
}

let context
/** What does not depend on the choice of closed services, computed once. */
async function prepare() {
  if (context) return context
  const union = await presetUnion()
  const kept = [...union.values()].filter((e) => !exclusionReason(e))
  const keptByService = new Map()
  for (const e of kept) {
    const s = e.action.split(':')[0]
    if (!keptByService.has(s)) keptByService.set(s, [])
    keptByService.get(s).push(e.action)
  }
  const excludedGranted = [...union.values()].filter((e) => exclusionReason(e)).map((e) => e.action)
  context = { union, keptByService, keptSet: new Set(kept.map((e) => e.action.toLowerCase())), excludedGranted, allowMemo: new Map(), denyMemo: new Map() }
  return context
}

/**
 * Reads in a closed service: prefix patterns ("ec2:Describe*", "s3:GetBucket*") or
 * names, and the excluded actions of the service's catalog (writes, data reads)
 * those patterns match: statement 3 denies them, so in a closed service nothing
 * excluded passes, whatever policy is attached.
 */
async function closedServiceReads(service) {
  const ctx = await prepare()
  if (ctx.allowMemo.has(service)) return ctx.allowMemo.get(service)
  const catalog = await actionsOfService(service)
  if (!catalog.length) throw new Error(`closed service ${service} is not in the catalog`)
  const excludedHere = catalog.filter((e) => exclusionReason(e))
  const extra = (p) => excludedHere.filter((e) => actionMatchesPattern(e.action, p)).reduce((n, e) => n + cost(e.action), 0)
  const patterns = cover(service, (ctx.keptByService.get(service) ?? []).sort(), () => true, extra, { suffixes: false })
  const toDeny = excludedHere.filter((e) => patterns.some((p) => actionMatchesPattern(e.action, p))).map((e) => e.action)
  const result = { patterns, toDeny }
  ctx.allowMemo.set(service, result)
  return result
}

/** Deny entries for one service: patterns that match no action a preset grants and must keep. */
async function serviceDenies(service, targets) {
  const ctx = await prepare()
  const key = `${service}|${targets.join(',')}`
  if (ctx.denyMemo.has(key)) return ctx.denyMemo.get(key)
  const catalog = await actionsOfService(service)
  const safe = (p) => !catalog.some((e) => ctx.keptSet.has(e.action.toLowerCase()) && actionMatchesPattern(e.action, p))
  const out = cover(service, targets, safe, () => 0, { wholeService: true })
  ctx.denyMemo.set(key, out)
  return out
}

export async function generateFor(closedServices, { openRest = true } = {}) {
  const ctx = await prepare()
  const closed = new Set(closedServices)
  const allowReads = []
  const mustDeny = new Set()
  const perService = {}
  for (const service of closedServices) {
    const { patterns, toDeny } = await closedServiceReads(service)
    allowReads.push(...patterns)
    toDeny.forEach((a) => mustDeny.add(a))
    perService[service] = patterns
  }
  // every excluded action a preset grants in an open service passes statement 1: deny it
  if (openRest) for (const a of ctx.excludedGranted) if (!closed.has(a.split(':')[0])) mustDeny.add(a)
  // credential reads and credential-minting or escalation calls of any open service, granted or not
  if (openRest) for (const a of DENIED_WHEN_OPEN) if (!closed.has(a.split(':')[0])) mustDeny.add(a)
  // IAM and STS writes and credential calls: denied explicitly as well, so that no
  // edit of the allow statements can ever let them through (and linters see the deny)
  for (const service of EXPLICIT_DENY_SERVICES) {
    for (const e of await actionsOfService(service)) if (exclusionReason(e)) mustDeny.add(e.action)
  }
  const byService = new Map()
  for (const a of [...mustDeny].sort()) {
    const s = a.split(':')[0]
    if (!byService.has(s)) byService.set(s, [])
    byService.get(s).push(a)
  }
  const denies = []
  for (const [service, targets] of [...byService].sort()) denies.push(...(await serviceDenies(service, targets)))

  const document = {
    Version: '2012-10-17',
    Statement: [
      ...(openRest ? [{ Sid: 'OpenServices', Effect: 'Allow', NotAction: closedServices.map((s) => `${s}:*`), Resource: ['*'] }] : []),
      ...(allowReads.length ? [{ Sid: 'ClosedServiceReads', Effect: 'Allow', Action: allowReads, Resource: ['*'] }] : []),
      ...(denies.length ? [{ Sid: 'DenyExcluded', Effect: 'Deny', Action: denies, Resource: ['*'] }] : []),
      ...RESOURCE_SCOPED_DENIES.map((d) => ({ Sid: d.sid, Effect: 'Deny', Action: d.actions, Resource: d.resources }))
    ]
  }
  return { document, union: ctx.union, mustDeny, perService }
}

/** The boundary with every REQUIRED_CLOSED service and as many OPTIONAL_CLOSED ones as fit. */
export async function generate() {
  let closed = [...REQUIRED_CLOSED]
  let best = await generateFor(closed)
  if (serialisedLength(best.document) > MANAGED_POLICY_MAX_CHARS - HEADROOM) {
    throw new Error(`the required closed services alone need ${serialisedLength(best.document)} characters`)
  }
  const skipped = []
  for (const service of OPTIONAL_CLOSED) {
    const attempt = await generateFor([...closed, service])
    if (serialisedLength(attempt.document) <= MANAGED_POLICY_MAX_CHARS - HEADROOM) {
      closed = [...closed, service]
      best = attempt
    } else {
      skipped.push(service)
    }
  }
  return { ...best, closed, skipped }
}

/** Share of each preset's remaining actions a boundary allows, and what passes with AdministratorAccess attached. */
export async function measure(document) {
  const out = {}
  for (const [arn, p] of Object.entries(managedPolicies().policies)) {
    if (arn === ADMINISTRATOR_ACCESS) continue
    const remaining = [...(await allowedActionsOf(p.document)).actions.values()].filter((e) => !exclusionReason(e))
    const allowed = remaining.filter((e) => boundaryDecision(document, e.action).decision === 'allowed').length
    out[p.name] = (100 * allowed) / remaining.length
  }
  let leaks = 0
  let iamSts = 0
  for (const service of await allServices()) {
    for (const e of await actionsOfService(service)) {
      if (exclusionReason(e) && boundaryDecision(document, e.action).decision === 'allowed') {
        leaks++
        if (service === 'iam' || service === 'sts') iamSts++
      }
    }
  }
  return { shares: out, leaks, iamSts, size: serialisedLength(document) }
}

/**
 * The read-only shape: reads only, in as many services as fit (the required
 * ones first, then by actions kept per character); every other action of every
 * service is implicitly denied, so no attached policy can ever write anything.
 */
export async function generateReadOnly() {
  const ctx = await prepare()
  const budget = MANAGED_POLICY_MAX_CHARS - HEADROOM
  const gain = new Map()
  const others = [...ctx.keptByService.keys()].filter((s) => !REQUIRED_CLOSED.includes(s))
    .filter((s) => !['dynamodb', 'apigateway', 'rds', 'ecs', 'eks', 'ecr', 'cloudwatch', 'sns', 'sqs', 'elasticloadbalancing', 'autoscaling', 'cloudfront', 'route53', 'wafv2', 'inspector2', 'macie2', 'backup', 'elasticfilesystem', 'redshift', 'es', 'acm', 'cloudformation', 'events', 'kinesis', 'firehose', 'tag', 'health'].includes(s))
  for (const s of others) {
    const { patterns } = await closedServiceReads(s)
    gain.set(s, ctx.keptByService.get(s).length / Math.max(1, patterns.reduce((n, p) => n + cost(p), 0)))
  }
  others.sort((a, b) => gain.get(b) - gain.get(a) || a.localeCompare(b))
  // Beyond the required services, those whose configuration every audit reads.
  const mustRead = [...REQUIRED_CLOSED, 'dynamodb', 'apigateway', 'rds', 'ecs', 'eks', 'ecr', 'cloudwatch', 'sns', 'sqs', 'elasticloadbalancing', 'autoscaling', 'cloudfront', 'route53', 'wafv2', 'inspector2', 'macie2', 'backup', 'elasticfilesystem', 'redshift', 'es', 'acm', 'cloudformation', 'events', 'kinesis', 'firehose', 'tag', 'health']
  let chosen = mustRead.filter((s) => ctx.keptByService.has(s))
  let { document } = await generateFor(chosen, { openRest: false })
  if (serialisedLength(document) > budget) throw new Error('the required services alone do not fit')
  for (const s of others) {
    const attempt = (await generateFor([...chosen, s], { openRest: false })).document
    if (serialisedLength(attempt) <= budget) {
      chosen = [...chosen, s]
      document = attempt
    }
  }
  return { document, closed: chosen }
}

/** The three shapes a boundary can take within 6144 characters, measured. */
async function compare() {
  const ctx = await prepare()
  const budget = MANAGED_POLICY_MAX_CHARS - HEADROOM
  const rows = []
  // A: allow-list only (reads of as many services as fit; everything else implicitly denied)
  const services = [...ctx.keptByService.keys()]
  const gain = new Map()
  for (const s of services) {
    const { patterns } = await closedServiceReads(s)
    gain.set(s, ctx.keptByService.get(s).length / patterns.reduce((n, p) => n + cost(p), 0))
  }
  services.sort((a, b) => gain.get(b) - gain.get(a))
  let chosen = []
  let docA = (await generateFor([], { openRest: false })).document
  for (const s of services) {
    const attempt = (await generateFor([...chosen, s], { openRest: false })).document
    if (serialisedLength(attempt) <= budget) {
      chosen = [...chosen, s]
      docA = attempt
    }
  }
  rows.push(['A allow-list of reads only', `${chosen.length} services`, await measure(docA)])
  // B: allow everything, deny the excluded actions presets grant
  rows.push(['B Allow * + Deny', 'no closed service', await measure((await generateFor([])).document)])
  // C: the proposed hybrid
  const { document, closed } = await generate()
  rows.push(['C hybrid (proposed)', `${closed.length} closed services`, await measure(document)])
  const names = Object.keys(rows[0][2].shares)
  console.log(`| shape | | characters | ${names.join(' | ')} | excluded actions passing with AdministratorAccess | of them IAM/STS |`)
  console.log(`|---|---|---:|${names.map(() => '---:').join('|')}|---:|---:|`)
  for (const [name, what, m] of rows) {
    console.log(`| ${name} | ${what} | ${m.size} | ${names.map((n) => m.shares[n].toFixed(2) + '%').join(' | ')} | ${m.leaks} | ${m.iamSts} |`)
  }
}

/** Writes the generated boundary to `out`, or with --check fails if the file differs; an invalid one fails either way. */
function writeOrCheck(out, text, problems, command) {
  if (problems.length) {
    console.error(`INVALID boundary:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }
  if (flag('check')) {
    const current = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : ''
    if (current !== text) {
      console.error(`${out} is not what ${command} generates: run it and commit the result`)
      process.exit(1)
    }
    console.log(`${out} is up to date`)
  } else {
    fs.writeFileSync(out, text)
    console.log(`wrote ${out}`)
  }
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)
if (isMain && flag('compare')) {
  await compare()
} else if (isMain && option('shape', 'hybrid') === 'read-only') {
  const out = option('out', path.join(HERE, 'read-only-boundary.json'))
  const { document, closed } = await generateReadOnly()
  const problems = boundaryProblems(document)
  const text = JSON.stringify(document, null, 2) + '\n'
  console.log(`read-only shape: ${closed.length} services; size ${serialisedLength(document)} characters (limit ${MANAGED_POLICY_MAX_CHARS})`)
  writeOrCheck(out, text, problems, 'make-boundary.mjs --shape read-only')
} else if (isMain) {
  const out = option('out', path.join(HERE, '..', '..', 'src', 'permissions-boundary.json'))
  const { document, union, closed, skipped } = await generate()
  const problems = boundaryProblems(document)
  const text = JSON.stringify(document, null, 2) + '\n'
  const size = serialisedLength(document)
  const st = document.Statement
  console.log(`${await catalogVersion()}; managed policies: ${managedPolicies().source}`)
  console.log(`closed services (${closed.length}): ${closed.join(' ')}\nnot closed (did not fit): ${skipped.join(' ') || '-'}\n`+`allow entries: ${st[1].Action.length}; deny entries: ${st[2].Action.length}`)
  console.log(`size: ${size} characters (limit ${MANAGED_POLICY_MAX_CHARS}); preset actions considered: ${union.size}`)
  writeOrCheck(out, text, problems, 'make-boundary.mjs')
}
