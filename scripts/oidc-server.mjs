// The local OpenID Connect provider that scripts/oidc starts: panva's certified oidc-provider,
// configured for what Kafka's OAUTHBEARER needs and nothing else: the client credentials grant,
// RS256-signed JWT access tokens (RFC 9068) with an audience, a JWKS for the broker to verify them.
//
//   node oidc-server.mjs serve SETTINGS.json     run the provider (scripts/oidc up)
//   node oidc-server.mjs assertion SETTINGS.json  print a fresh client assertion for the
//       `assertion` client: what a Kubernetes projected service-account token is to Entra ID
//
// SETTINGS.json (written by scripts/oidc) holds the issuer, host, port, the audience the broker
// expects, the signing key file and the clients (id, secret or assertion key, token lifetime,
// audience).
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { SignJWT } from 'jose';
import Provider from 'oidc-provider';

const [command, settingsFile] = process.argv.slice(2);
const settings = JSON.parse(readFileSync(settingsFile, 'utf8'));

function log(event, fields = {}) {
  const pairs = Object.entries(fields).map(([key, value]) => {
    const text = String(value);
    return `${key}=${/[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text}`;
  });
  process.stderr.write(`ts=${new Date().toISOString()} level=info component=oidc event=${event} ${pairs.join(' ')}\n`);
}

function jwkOf(keyFile, kid, isPrivate) {
  const pem = readFileSync(keyFile);
  const key = isPrivate ? createPrivateKey(pem) : createPublicKey(pem);
  return { ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

function clientMetadata(client) {
  const common = {
    client_id: client.id,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: settings.scopes.join(' '),
  };
  if (client.assertion_key_file) {
    return {
      ...common,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [jwkOf(client.assertion_key_file, `${client.id}-assertion`, false)] },
    };
  }
  // Basic (librdkafka, KEDA) or in the form body: a client may use either.
  return { ...common, client_secret: client.secret, token_endpoint_auth_method: 'client_secret_basic' };
}

function serve() {
  const byId = new Map(settings.clients.map((client) => [client.id, client]));
  const provider = new Provider(settings.issuer, {
    clients: settings.clients.map(clientMetadata),
    jwks: { keys: [jwkOf(settings.signing_key_file, settings.key_id, true)] },
    scopes: settings.scopes,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter (librdkafka and KEDA send none): the Kafka cluster is meant. The
        // indicator must be an absolute URI; the audience it maps to is each client's.
        defaultResource: () => 'urn:lagscale:kafka',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          const known = byId.get(client.clientId);
          return {
            scope: settings.scopes.join(' '),
            audience: known.audience,
            accessTokenTTL: known.token_lifetime_s,
            accessTokenFormat: 'jwt',
          };
        },
      },
    },
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 300 },
  });
  // Entra ID accepts a federated (service-account) token as often as it likes while it is valid, and
  // the kubelet rewrites the file only every hour or so: let the assertion client do the same here
  // (oidc-provider would otherwise accept each assertion once).
  provider.ReplayDetection.unique = async () => true;
  // One line per token issued or refused: the refresh tests count them. Never the token itself.
  // JWT access tokens are not stored, so the model emits `issued` rather than `saved`.
  provider.on('client_credentials.issued', (token) => {
    log('token_issued', { client_id: token.clientId, lifetime_s: token.expiration });
  });
  provider.on('grant.error', (ctx, error) => {
    log('token_refused', { client_id: ctx.oidc.client?.clientId ?? '', error: error.error ?? error.message });
  });
  const server = provider.listen(settings.port, settings.host, () => {
    log('listening', { issuer: settings.issuer });
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function assertion() {
  const client = settings.clients.find((candidate) => candidate.assertion_key_file);
  const key = createPrivateKey(readFileSync(client.assertion_key_file));
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: `${client.id}-assertion` })
    .setIssuer(client.id)
    .setSubject(client.id)
    .setAudience(settings.issuer)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key);
  process.stdout.write(`${jwt}\n`);
}

if (command === 'serve') {
  serve();
} else if (command === 'assertion') {
  await assertion();
} else {
  process.stderr.write('usage: node oidc-server.mjs serve|assertion SETTINGS.json\n');
  process.exit(2);
}
