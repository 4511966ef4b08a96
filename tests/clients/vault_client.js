// A service's Vault client in the shape many Node.js services carry, written against the
// built-in `https` module only (no npm): read, write, list, delete, healthCheck, and an
// optional namespace sent as `X-Vault-Namespace` on every request. Configured the usual way,
// from VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, VAULT_CLIENT_CERT and
// VAULT_CLIENT_KEY; through vaultgate, VAULT_TOKEN is simply not set.
//
// Run as a script (`node vault_client.js <prefix>`), it performs the client compatibility
// matrix's operations (tests/integration/compat/) and prints one JSON line per operation:
// {"op", "status", "body"}. It never prints the token.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');

class VaultError extends Error {
  constructor(status, body) {
    super(`Vault answered ${status}: ${JSON.stringify(body && body.errors)}`);
    this.status = status;
    this.body = body;
  }
}

class VaultClient {
  constructor({ endpoint, token, namespace, caFile, certFile, keyFile, timeoutMs = 10000 }) {
    this.base = new URL(endpoint);
    this.token = token;
    this.namespace = namespace;
    this.timeoutMs = timeoutMs;
    if (this.base.protocol === 'https:') {
      this.transport = https;
      this.agent = new https.Agent({
        keepAlive: true,
        ca: caFile ? fs.readFileSync(caFile) : undefined,
        cert: certFile ? fs.readFileSync(certFile) : undefined,
        key: keyFile ? fs.readFileSync(keyFile) : undefined,
      });
    } else {
      this.transport = http;
      this.agent = new http.Agent({ keepAlive: true });
    }
  }

  static fromEnv(overrides = {}) {
    const env = process.env;
    return new VaultClient({
      endpoint: env.VAULT_ADDR,
      token: env.VAULT_TOKEN || undefined,
      namespace: env.VAULT_NAMESPACE || undefined,
      caFile: env.VAULT_CACERT,
      certFile: env.VAULT_CLIENT_CERT,
      keyFile: env.VAULT_CLIENT_KEY,
      ...overrides,
    });
  }

  /** One API call; resolves {status, body} for 2xx, rejects with VaultError otherwise. */
  request(method, path, body, { okStatuses = [] } = {}) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { Accept: 'application/json' };
    if (this.token) headers['X-Vault-Token'] = this.token;
    if (this.namespace) headers['X-Vault-Namespace'] = this.namespace;
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(payload);
    }
    const url = new URL(`/v1/${path.replace(/^\/+/, '')}`, this.base);
    return new Promise((resolve, reject) => {
      const req = this.transport.request(
        url,
        { method, headers, agent: this.agent, timeout: this.timeoutMs },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed = null;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch (_) {
              parsed = { raw: text };
            }
            const ok = res.statusCode < 300 || okStatuses.includes(res.statusCode);
            if (ok) resolve({ status: res.statusCode, body: parsed });
            else reject(new VaultError(res.statusCode, parsed));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  read(path) {
    return this.request('GET', path);
  }

  write(path, data) {
    return this.request('POST', path, data);
  }

  list(path) {
    return this.request('LIST', path);
  }

  delete(path) {
    return this.request('DELETE', path);
  }

  /** Vault's health endpoint; a standby (429) counts as healthy, as most services do it. */
  healthCheck() {
    return this.request('GET', 'sys/health?standbyok=true', undefined, { okStatuses: [429] });
  }

  close() {
    this.agent.destroy();
  }
}

async function matrix(prefix) {
  const env = process.env;
  const client = VaultClient.fromEnv();
  // The same service with a namespace configured, as a second client instance.
  const inNamespace = VaultClient.fromEnv({ namespace: env.COMPAT_NAMESPACE });
  const key = env.COMPAT_TRANSIT_KEY;
  const ops = [
    ['write', () => client.write(`secret/data/${prefix}/db`, { data: { colour: 'blue' } })],
    ['read', () => client.read(`secret/data/${prefix}/db`)],
    ['list', () => client.list(`secret/metadata/${prefix}`)],
    ['healthCheck', () => client.healthCheck()],
    ['write (namespace header)', () =>
      inNamespace.write(`secret/data/${prefix}/db`, { data: { colour: 'green' } })],
    ['read (namespace header)', () => inNamespace.read(`secret/data/${prefix}/db`)],
    ['list (namespace header)', () => inNamespace.list(`secret/metadata/${prefix}`)],
    ['delete (namespace header)', () => inNamespace.delete(`secret/data/${prefix}/db`)],
    ['write transit/encrypt', () =>
      client.write(`transit/encrypt/${key}`, { plaintext: env.COMPAT_PLAINTEXT })],
    ['write transit/decrypt', () =>
      client.write(`transit/decrypt/${key}`, { ciphertext: env.COMPAT_CIPHERTEXT })],
    ['write pki/issue', () =>
      client.write(`pki/issue/${env.COMPAT_PKI_ROLE}`, {
        common_name: env.COMPAT_COMMON_NAME,
        ttl: '10m',
      })],
    ['delete', () => client.delete(`secret/data/${prefix}/db`)],
  ];
  for (const [op, run] of ops) {
    let line;
    try {
      const { status, body } = await run();
      line = { op, status, body };
    } catch (e) {
      line = e instanceof VaultError
        ? { op, status: e.status, body: e.body }
        : { op, status: null, body: null, error: String(e.message) };
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  client.close();
  inNamespace.close();
}

module.exports = { VaultClient, VaultError };

if (require.main === module) {
  const prefix = process.argv[2];
  if (!prefix) {
    process.stderr.write('usage: node vault_client.js <kv-prefix>\n');
    process.exit(2);
  }
  matrix(prefix).catch((e) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
