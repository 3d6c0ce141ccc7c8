// An independent OpenID provider for the e2e interop test: panva's oidc-provider (OpenID
// Certified), set up the way Buypass runs its realm: authorization code flow only, PKCE S256
// required, private_key_jwt client authentication, scope `openid bpx509certificate`, an ID
// token with `amr` and the PEM login certificate in `bp_x509certificate`. Discovery, the
// authorization and token endpoints, client authentication, ID-token signing and the JWKS are
// the library's own; only the login page (the smartcard reader, at Buypass) is ours.
//
// Protocol with the test (tests/src/interop_provider.rs):
//   1. binds a free loopback port and prints `issuer <url>`;
//   2. reads one JSON line on stdin: { client_id, redirect_uri, client_jwks, accounts }, where
//      accounts maps a holder name to the PEM certificate on that holder's card;
//   3. prints `ready` and serves until stdin closes or it is killed; for each ID token it
//      issues it prints `id_token ["claim", ...]` (the claim names).
//
// The login page at /interaction/<uid> offers the methods Buypass offers; the form posts
// `method` (`sc`: smartcard, `otp`: password + SMS, `cancel`) and `holder`.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as readline from 'node:readline';

import Provider from 'oidc-provider';

const AMR = { sc: ['sc'], otp: ['pwd', 'otp'] };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function configure(issuer, setup) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: setup.client_id,
        redirect_uris: [setup.redirect_uri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        id_token_signed_response_alg: 'RS256',
        jwks: setup.client_jwks,
      },
    ],
    jwks: { keys: [signingKey] },
    scopes: ['openid', 'bpx509certificate'],
    // Like Buypass, every ID token says how the holder logged in (`amr`, `acr`).
    claims: {
      openid: ['sub', 'amr', 'acr', 'auth_time'],
      bpx509certificate: ['bp_x509certificate'],
    },
    // Buypass puts the certificate in the ID token itself, not only behind userinfo.
    conformIdTokenClaims: false,
    extraParams: ['bp_amr-values'],
    pkce: { required: () => true },
    clientAuthMethods: ['private_key_jwt'],
    responseTypes: ['code'],
    features: { devInteractions: { enabled: false } },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    ttl: {
      AccessToken: 300,
      AuthorizationCode: 60,
      IdToken: 300,
      Interaction: 600,
      Session: 600,
      Grant: 600,
    },
    async findAccount(ctx, sub) {
      const certificate = Object.hasOwn(setup.accounts, sub) ? setup.accounts[sub] : undefined;
      if (certificate === undefined) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, bp_x509certificate: certificate };
        },
      };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  return provider;
}

async function loginPage(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const hint = details.params['bp_amr-values'] ?? '';
  send(res, 200, 'text/html; charset=utf-8', `<!DOCTYPE html>
<html lang="nb"><head><meta charset="utf-8"><title>Buypass ID (interop)</title></head>
<body>
<h1>Velg identifiseringsmetode</h1>
<p data-amr-hint="${escapeHtml(hint)}">${escapeHtml(details.params.client_id)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Kortholder <input name="holder"></label>
  <button name="method" value="sc">Buypass ID på smartkort</button>
  <button name="method" value="otp">Buypass ID med passord/SMS</button>
  <button name="method" value="cancel">Avbryt</button>
</form>
</body></html>`);
}

async function login(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const form = await readBody(req);
  const method = form.get('method');
  if (method === 'cancel') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'avbrutt av brukeren',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const amr = AMR[method];
  const holder = form.get('holder') ?? '';
  if (!amr || !Object.hasOwn(setupAccounts, holder)) {
    send(res, 400, 'text/plain; charset=utf-8', 'ukjent metode eller kortholder');
    return;
  }
  const grant = new provider.Grant({ accountId: holder, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: holder, amr, acr: 'urn:buypass:acr:interop' },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

let setupAccounts = {};
let provider;

const server = http.createServer(async (req, res) => {
  if (!provider) {
    send(res, 503, 'text/plain', 'not configured yet');
    return;
  }
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url, 'http://x').pathname);
  if (!match) {
    provider.callback()(req, res);
    return;
  }
  try {
    if (!match[2] && req.method === 'GET') {
      await loginPage(provider, req, res, match[1]);
    } else if (match[2] && req.method === 'POST') {
      await login(provider, req, res, match[1]);
    } else {
      send(res, 405, 'text/plain', 'method not allowed');
    }
  } catch (error) {
    send(res, 400, 'text/plain; charset=utf-8', `interaction failed: ${error.message}`);
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  console.log(`issuer ${issuer}`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.once('line', (line) => {
    const setup = JSON.parse(line);
    setupAccounts = setup.accounts;
    provider = configure(issuer, setup);
    provider.on('server_error', (ctx, error) => console.error('provider server_error:', error));
    provider.on('grant.error', (ctx, error) => console.error('provider grant.error:', error.message, error.error_description ?? ''));
    // Tells the test which claims each issued ID token carried (names only).
    provider.on('grant.success', (ctx) => {
      const idToken = ctx.body?.id_token;
      if (typeof idToken !== 'string') return;
      const claims = JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url').toString('utf8'));
      console.log(`id_token ${JSON.stringify(Object.keys(claims).sort())}`);
    });
    console.log('ready');
  });
  lines.on('close', () => process.exit(0));
});
