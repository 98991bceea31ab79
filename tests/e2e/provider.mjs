// A real OAuth 2.0 authorization server for scopegate's end-to-end tests.
//
// Runs `oidc-provider` (pinned in package-lock.json) on 127.0.0.1 with an ephemeral port.
// The first line on stdout is one JSON object (the "ready line"): the bound port, the issuer,
// the endpoints and the clients below (ids, auth methods, secrets: test fixtures only).
// Everything else (oidc-provider warnings, errors) goes to stderr. The process runs until it is
// killed (the Rust harness stops it by PID) or its stdin closes.
//
//   node tests/e2e/provider.mjs            # prints {"port":...,"issuer":...,...}
//
// Test-only endpoints: `GET /__e2e/stats` returns every introspection, revocation and token
// call seen so far (endpoint, client_id, how the client authenticated, status, `active`), so
// that tests can count calls at the authorization server's end. `POST /__e2e/rotate` rotates
// the signing key: a new key (next `kid`) signs from then on and /jwks publishes only it (the
// old key is removed); it answers `{"kid": "<new kid>"}`. Clients and the call log are kept;
// tokens stored by the provider before a rotation (opaque ones) are not, so only tests with
// a provider of their own (`Oidc::start`) rotate.
//
// ## Extending (all configuration lives in CONFIG below)
// - New scope: add it to CONFIG.scopes (and to a client's `scope` if that client may ask for it).
// - New client: add an entry to CONFIG.clients. `access_token_ttl` (seconds, not an
//   oidc-provider property: it is stripped before the client is registered) sets how long its
//   client-credentials tokens live; the default is CONFIG.defaultAccessTokenTtl. The Rust
//   harness finds clients by id in the ready line (tests/support/oidc.rs, `Oidc::client`).
// - JWT access tokens (RFC 9068) with resource indicators (RFC 8707): add a resource server,
//     resourceServers: {
//       'https://api.example/': {
//         scope: 'orders:read orders:write', audience: 'https://api.example/',
//         accessTokenFormat: 'jwt', accessTokenTTL: 60, jwt: { sign: { alg: 'ES256' } },
//       },
//     },
//   and mint with `resource=https://api.example/` on the token request: the answer is a
//   JWT signed by the first key of CONFIG.signingKeys() (`kid` in its header, `sub`,
//   `client_id`, `scope`, `aud` in its payload), verifiable with `jwks_uri`. Its
//   `accessTokenTTL` wins over the client's. Without `resource` tokens stay opaque: the
//   existing tests rely on that.
// - Key rotation: CONFIG.signingKeys() returns private JWKs; the first one signs, all are
//   published at /jwks. `POST /__e2e/rotate` replaces them with CONFIG.rotatedKeys(n) during a
//   run (a new provider instance on the same port and issuer).

import { createServer } from 'node:http';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

// === configuration: the one place to edit ===

const CONFIG = {
  scopes: ['orders:read', 'orders:write', 'profile', 'admin'],

  // Seconds a client-credentials access token lives unless its client says otherwise.
  defaultAccessTokenTtl: 600,

  clients: [
    // Clients that mint tokens (the "applications" calling the API through scopegate).
    {
      client_id: 'e2e-app-basic',
      client_secret: 'e2e-app-basic-secret-5Jq2',
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'orders:read orders:write profile admin',
    },
    {
      client_id: 'e2e-app-post',
      client_secret: 'e2e-app-post-secret-8Wm4',
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'orders:read orders:write profile',
    },
    {
      // Tokens that expire almost at once (the `exp` tests).
      client_id: 'e2e-app-short',
      client_secret: 'e2e-app-short-secret-3Rt7',
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'orders:read',
      access_token_ttl: Number(process.env.E2E_SHORT_TOKEN_TTL || 3),
    },
    // scopegate's own clients at the introspection endpoint, one per auth method. The
    // provider enforces the registered method: the other one is refused (invalid_client).
    {
      client_id: 'scopegate-basic',
      client_secret: 'scopegate-basic-secret-9Kd1',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'scopegate-post',
      client_secret: 'scopegate-post-secret-2Hv6',
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],

  // oidc-provider accepts client_secret_basic and client_secret_post interchangeably for
  // a client registered with either. With this set, a request to the token, introspection
  // or revocation endpoint whose credentials come the other way is refused (401
  // invalid_client), so that a test can tell which method the caller really used.
  enforceRegisteredAuthMethod: true,

  // Resource indicator -> resource server info (RFC 8707). Tokens minted without
  // `resource` stay opaque; with this one they are RFC 9068 JWTs (tests/it/e2e_oidc.rs).
  resourceServers: {
    'https://orders.example/': {
      scope: 'orders:read orders:write profile',
      audience: 'https://orders.example/',
      accessTokenFormat: 'jwt',
      accessTokenTTL: 60,
      jwt: { sign: { alg: 'ES256' } },
    },
  },

  // Private JWKs; generated per run (nothing secret is committed). The first key's `alg`
  // is every client's default signing algorithm (clientDefaults below).
  signingKeys() {
    return [ecKey('e2e-1')];
  },

  // The keys after the n-th `POST /__e2e/rotate` (n = 1, 2, ...): only the new one.
  rotatedKeys(n) {
    return [ecKey(`e2e-${n + 1}`)];
  },
};

// EC P-256: generated in milliseconds (an RSA key costs the harness ~1 s of CPU).
function ecKey(kid) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
}

// === provider ===

const ttlByClient = new Map(
  CONFIG.clients.map((c) => [c.client_id, c.access_token_ttl ?? CONFIG.defaultAccessTokenTtl]),
);

function providerConfiguration(keys) {
  return {
    clients: CONFIG.clients.map(({ access_token_ttl: _ttl, ...c }) => ({
      redirect_uris: [],
      ...c,
    })),
    scopes: CONFIG.scopes,
    jwks: { keys },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: keys[0].alg,
    },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // RFC 9068 §2.2: for a client-credentials token, `sub` is the client itself. opaque
    // tokens keep these claims in storage and introspection returns them.
    extraTokenClaims(ctx, token) {
      if (token.kind === 'ClientCredentials') return { sub: token.clientId };
      return undefined;
    },
    ttl: {
      ClientCredentials(ctx, token, client) {
        // A resource server's own `accessTokenTTL` wins over the client's.
        return token.resourceServer?.accessTokenTTL
          ?? ttlByClient.get(client.clientId) ?? CONFIG.defaultAccessTokenTtl;
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Confidential clients (every client here) may introspect any token.
        allowedPolicy(ctx, client) {
          return client.clientAuthMethod !== 'none';
        },
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource() {
          return undefined;
        },
        useGrantedResource() {
          return false;
        },
        getResourceServerInfo(ctx, resourceIndicator) {
          const info = CONFIG.resourceServers[resourceIndicator];
          if (!info) throw new Provider.errors.InvalidTarget();
          return info;
        },
      },
    },
  };
}

// === test-only call log and strict auth-method check ===

const stats = [];
const methodByClient = new Map(
  CONFIG.clients.map((c) => [c.client_id, c.token_endpoint_auth_method]),
);

// The client id of an `Authorization: Basic` header (RFC 6749 §2.3.1), or null.
function basicClientId(authorization) {
  const m = /^basic\s+(\S+)$/i.exec(authorization || '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

function recordCalls(provider, endpoints, rotate) {
  const watched = new Map([
    [new URL(endpoints.token_endpoint).pathname, 'token'],
    [new URL(endpoints.introspection_endpoint).pathname, 'introspection'],
    [new URL(endpoints.revocation_endpoint).pathname, 'revocation'],
  ]);
  provider.use(async (ctx, next) => {
    if (ctx.path === '/__e2e/stats' && ctx.method === 'GET') {
      ctx.body = { calls: stats };
      return;
    }
    if (ctx.path === '/__e2e/rotate' && ctx.method === 'POST') {
      ctx.body = { kid: rotate() };
      return;
    }
    const endpoint = ctx.method === 'POST' ? watched.get(ctx.path) : undefined;
    if (!endpoint) {
      await next();
      return;
    }
    // Read the form body here (oidc-provider then uses `ctx.request.body`), so that the
    // auth method is known before the provider acts on the request.
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    ctx.request.body = raw;
    const form = new URLSearchParams(raw);
    const basicId = basicClientId(ctx.get('authorization'));
    const bodyId = form.has('client_secret') ? form.get('client_id') : null;
    const auth = basicId !== null ? 'client_secret_basic'
      : bodyId !== null ? 'client_secret_post' : 'none';
    const clientId = basicId ?? bodyId ?? form.get('client_id');
    const registered = methodByClient.get(clientId);
    let refused = false;
    if (CONFIG.enforceRegisteredAuthMethod && registered && auth !== 'none' && auth !== registered) {
      refused = true;
      ctx.status = 401;
      ctx.body = {
        error: 'invalid_client',
        error_description: `client is registered for ${registered}, not ${auth} (e2e strict mode)`,
      };
    } else {
      await next();
    }
    stats.push({
      endpoint,
      client_id: clientId,
      // How the request carried the client's credentials.
      auth,
      status: ctx.status,
      // Lets a test count the calls about one token of its own.
      token_sha256: form.has('token')
        ? createHash('sha256').update(form.get('token')).digest('hex') : null,
      active: endpoint === 'introspection' && !refused ? ctx.body?.active ?? null : null,
    });
  });
}

// === start ===

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const endpoints = {
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    jwks_uri: `${issuer}/jwks`,
  };
  let rotations = 0;
  let handle;
  // One provider instance per key set; a rotation swaps the instance behind the server.
  const build = (keys) => {
    const provider = new Provider(issuer, providerConfiguration(keys));
    recordCalls(provider, endpoints, () => {
      rotations += 1;
      const next = CONFIG.rotatedKeys(rotations);
      handle = build(next);
      return next[0].kid;
    });
    provider.on('server_error', (ctx, err) => console.error('server_error', err));
    return provider.callback();
  };
  handle = build(CONFIG.signingKeys());
  server.on('request', (req, res) => handle(req, res));
  const clients = CONFIG.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    access_token_ttl: ttlByClient.get(c.client_id),
  }));
  process.stdout.write(`${JSON.stringify({ port, issuer, ...endpoints, clients })}\n`);
});

// Never outlive the harness: stdin closing (parent gone) stops the server too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
