// Test PKI generated at test time with the `openssl` command-line tool (nothing secret is committed):
//
//   ca          self-signed root CA, EC P-256 ("libcoap test CA")
//   server      CN=localhost, SAN IP:127.0.0.1, IP:::1, DNS:localhost, signed by ca
//   client      CN=client1, signed by ca (clientAuth)
//   wrongCa     an unrelated root CA, and wrongCa.server: a server cert like `server` signed by it
//   expired     like `server`, signed by ca, valid 2020-01-01 .. 2020-02-01 (made with `openssl ca`,
//               since OpenSSL 3.0's `x509 -req` has no -not_before/-not_after)
//   mismatch    CN=other.example, SAN DNS:other.example only, signed by ca
//   selfSigned  CN=localhost with the same SANs as `server`, signed by its own key
//
// Every key is EC P-256 in PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). Each item gives both the
// file path and the PEM bytes. makePki() is cached per process (per directory); the temporary
// directory is removed by cleanup() or, failing that, when the process exits.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

export interface PemFile {
  /** Absolute path of the PEM file. */
  path: string
  /** The file's content. */
  pem: Buffer
}

export interface CertAndKey {
  cert: PemFile
  key: PemFile
}

export interface Pki {
  dir: string
  /** The trusted root: `ca.pem`/`ca.path` is the certificate, `ca.key` its private key. */
  ca: PemFile & { key: PemFile }
  server: CertAndKey
  client: CertAndKey
  wrongCa: { ca: PemFile & { key: PemFile }; server: CertAndKey }
  expired: CertAndKey
  mismatch: CertAndKey
  selfSigned: CertAndKey
  /** Every openssl command line that was run, in order (for reports and debugging). */
  commands: string[]
  /** Removes the directory (when makePki created it) and forgets the cached instance. */
  cleanup(): void
}

const OPENSSL_TIMEOUT_MS = 15_000

function run(args: string[], cwd: string, log: string[]): Promise<void> {
  log.push(`openssl ${args.map((a) => (/[\s"'*]/.test(a) ? `'${a}'` : a)).join(' ')}`)
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: OPENSSL_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`))
      else resolve()
    })
  })
}

// A minimal config for `openssl req` (followed by EXT_CNF, whose sections `req -x509 -extensions`
// uses), so the system openssl.cnf adds no extensions of its own.
const REQ_CNF = `[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
`

const EXT_CNF = `[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = clientAuth, serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ mismatch ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:other.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

# Self-signed end-entity: no keyUsage, so OpenSSL still sees it as self-issued (verify error 18,
# "self-signed certificate") rather than an unknown issuer.
[ self_signed ]
basicConstraints = CA:FALSE
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
subjectKeyIdentifier = hash
`

// Minimal `openssl ca` setup, only to sign the expired certificate with dates in the past.
function caCnf(dir: string): string {
  return `[ ca ]
default_ca = test_ca
[ test_ca ]
dir = ${dir}
database = ${path.join(dir, 'ca-db', 'index.txt')}
new_certs_dir = ${path.join(dir, 'ca-db')}
serial = ${path.join(dir, 'ca-db', 'serial')}
certificate = ${path.join(dir, 'ca.pem')}
private_key = ${path.join(dir, 'ca.key')}
default_md = sha256
default_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
`
}

function serial(): string {
  // Positive, non-zero, 64 bits.
  const b = randomBytes(8)
  b[0] = (b[0] & 0x7f) | 0x01
  return `0x${b.toString('hex')}`
}

async function generate(dir: string, log: string[]): Promise<Omit<Pki, 'cleanup' | 'dir' | 'commands'>> {
  fs.writeFileSync(path.join(dir, 'req.cnf'), `${REQ_CNF}\n${EXT_CNF}`)
  fs.writeFileSync(path.join(dir, 'ext.cnf'), EXT_CNF)
  const o = (args: string[]) => run(args, dir, log)
  const genKey = (name: string) => o(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`])
  const rootCa = async (name: string, cn: string) => {
    await genKey(name)
    await o(['req', '-new', '-x509', '-config', 'req.cnf', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-sha256', '-days', '30',
      '-extensions', 'v3_ca', '-set_serial', serial(), '-out', `${name}.pem`])
  }
  const csr = async (name: string, cn: string) => {
    await genKey(name)
    await o(['req', '-new', '-config', 'req.cnf', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-sha256', '-out', `${name}.csr`])
  }
  const sign = (name: string, ca: string, section: string) =>
    o(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', serial(), '-sha256', '-days', '30',
      '-extfile', 'ext.cnf', '-extensions', section, '-out', `${name}.pem`])

  // The two roots, and the leaves that do not depend on each other, in parallel.
  await Promise.all([rootCa('ca', 'libcoap test CA'), rootCa('wrong-ca', 'libcoap unrelated test CA')])
  await Promise.all([
    csr('server', 'localhost').then(() => sign('server', 'ca', 'server')),
    csr('client', 'client1').then(() => sign('client', 'ca', 'client')),
    csr('wrong-ca-server', 'localhost').then(() => sign('wrong-ca-server', 'wrong-ca', 'server')),
    csr('mismatch', 'other.example').then(() => sign('mismatch', 'ca', 'mismatch')),
    (async () => {
      await genKey('self-signed')
      await o(['req', '-new', '-x509', '-config', 'req.cnf', '-key', 'self-signed.key', '-subj', '/CN=localhost', '-sha256', '-days', '30',
        '-extensions', 'self_signed', '-set_serial', serial(), '-out', 'self-signed.pem'])
    })(),
    (async () => {
      await csr('expired', 'localhost')
      const db = path.join(dir, 'ca-db')
      fs.mkdirSync(db)
      fs.writeFileSync(path.join(db, 'index.txt'), '')
      fs.writeFileSync(path.join(db, 'serial'), `${randomBytes(8).toString('hex').replace(/^./, '1')}\n`)
      fs.writeFileSync(path.join(dir, 'ca.cnf'), caCnf(dir))
      await o(['ca', '-config', 'ca.cnf', '-batch', '-notext', '-in', 'expired.csr', '-out', 'expired.pem',
        '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extfile', 'ext.cnf', '-extensions', 'server'])
    })(),
  ])

  const file = (name: string): PemFile => {
    const p = path.join(dir, name)
    return { path: p, pem: fs.readFileSync(p) }
  }
  const pair = (name: string): CertAndKey => ({ cert: file(`${name}.pem`), key: file(`${name}.key`) })
  return {
    ca: { ...file('ca.pem'), key: file('ca.key') },
    server: pair('server'),
    client: pair('client'),
    wrongCa: { ca: { ...file('wrong-ca.pem'), key: file('wrong-ca.key') }, server: pair('wrong-ca-server') },
    expired: pair('expired'),
    mismatch: pair('mismatch'),
    selfSigned: pair('self-signed'),
  }
}

const cache = new Map<string, Promise<Pki>>()
const tempDirs = new Set<string>()
let exitHook = false

/**
 * Generates (once per process and directory) the test PKI described at the top of this file.
 * Without `dir` a temporary directory is created and removed by `cleanup()` or at process exit.
 */
export function makePki(dir?: string): Promise<Pki> {
  const key = dir === undefined ? '' : path.resolve(dir)
  let entry = cache.get(key)
  if (entry === undefined) {
    entry = (async () => {
      const owned = dir === undefined
      const where = owned ? fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-pki-')) : path.resolve(dir)
      if (!owned) fs.mkdirSync(where, { recursive: true })
      if (owned) {
        tempDirs.add(where)
        if (!exitHook) {
          exitHook = true
          process.once('exit', () => {
            for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true })
          })
        }
      }
      const commands: string[] = []
      try {
        const files = await generate(where, commands)
        return {
          ...files,
          dir: where,
          commands,
          cleanup: () => {
            cache.delete(key)
            if (owned) {
              tempDirs.delete(where)
              fs.rmSync(where, { recursive: true, force: true })
            }
          },
        }
      } catch (err) {
        cache.delete(key)
        if (owned) {
          tempDirs.delete(where)
          fs.rmSync(where, { recursive: true, force: true })
        }
        throw err
      }
    })()
    cache.set(key, entry)
  }
  return entry
}
