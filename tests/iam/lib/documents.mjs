// Loading the inputs: the documents audit-grants produces (iam-documents.json,
// written by `cargo run --example policy_documents`) and the AWS managed policies
// of the presets (managed-policies.json, extracted from the pinned moto package).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const HERE = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

/** The documents file: first non-option argument, else $IAM_DOCUMENTS. */
export function documentsPath(argv = process.argv.slice(2)) {
  const positional = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      if (!argv[i].includes('=') && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') && OPTIONS_WITH_VALUE.has(argv[i])) i++
      continue
    }
    positional.push(argv[i])
  }
  const p = positional[0] ?? process.env.IAM_DOCUMENTS
  if (!p) {
    console.error('usage: node <script> <iam-documents.json>   (or IAM_DOCUMENTS=<file>)')
    process.exit(2)
  }
  return p
}
const OPTIONS_WITH_VALUE = new Set(['--min', '--boundary', '--top', '--out'])

/** Value of --name <v> or --name=<v>. */
export function option(name, fallback, argv = process.argv.slice(2)) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3)
  }
  return fallback
}
export const flag = (name, argv = process.argv.slice(2)) => argv.includes(`--${name}`)

const REQUIRED = ['grant', 'trust', 'window_deny', 'revoke_sessions', 'trust_no_one', 'boundary', 'presets']

export function loadDocuments(file) {
  let docs
  try {
    docs = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    console.error(`cannot read ${file}: ${e.message}`)
    process.exit(2)
  }
  // --boundary <file> or $IAM_BOUNDARY: evaluate another boundary (e.g. proposed-boundary.json) with the same grant
  const override = option('boundary') ?? process.env.IAM_BOUNDARY
  if (override) {
    try {
      docs.boundary = JSON.parse(fs.readFileSync(override, 'utf8'))
      docs.boundary_source = override
    } catch (e) {
      console.error(`cannot read boundary ${override}: ${e.message}`)
      process.exit(2)
    }
  }
  const missing = REQUIRED.filter((k) => docs[k] === undefined)
  if (missing.length) {
    console.error(`${file}: missing keys ${missing.join(', ')}`)
    process.exit(2)
  }
  return docs
}

let managed
/** { arn: { name, path, version, updated, document } } */
export function managedPolicies() {
  managed ??= JSON.parse(fs.readFileSync(path.join(HERE, 'managed-policies.json'), 'utf8'))
  return managed
}

/** The managed policy document behind a preset ARN (any partition). */
export function presetDocument(arn) {
  const key = arn.replace(/^arn:aws[a-z-]*:/, 'arn:aws:')
  const p = managedPolicies().policies[key]
  if (!p) throw new Error(`no managed policy document for ${arn} in managed-policies.json (re-run extract-managed-policies.py)`)
  return p
}

export const ADMINISTRATOR_ACCESS = 'arn:aws:iam::aws:policy/AdministratorAccess'
