// A real OAuth2 provider for the test suites: oauth2-mock-server (authorization code with PKCE,
// client credentials, refresh tokens), plus what a test needs to watch it and to steer it.
//
// Listens on 127.0.0.1 and an ephemeral port, prints "listening PORT" when ready, and runs until
// killed. Besides the provider's own endpoints (/authorize, /token, /jwks, ...):
//   GET  /api/me        a protected resource: 200 for an access token this provider issued and that
//                       has not expired, 401 otherwise
//   GET  /_test/stats   token requests per grant type, refusals, the last /authorize query
//   POST /_test/config  {"expires_in": seconds for the next tokens, "fail_next": "invalid_grant",
//                        "delay_ms": delay before token answers, "client_secret": required secret,
//                        "revoke_access": true forgets every access token issued so far}
// Refresh tokens rotate: every refresh issues a new one, and only the newest is accepted (an old
// one is answered with invalid_grant, as providers that detect reuse do).
import http from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

const provider = new OAuth2Server();
await provider.issuer.keys.generate('RS256');
const service = provider.service;

const state = {
  grants: {},
  refused: 0,
  expiresIn: 3600,
  failNext: null,
  delayMs: 0,
  clientSecret: null,
  latestRefresh: null,
  accessTokens: new Map(), // token -> expiry (ms)
  lastAuthorize: null,
};

service.on('beforeTokenSigning', (token) => {
  token.payload.exp = Math.floor(Date.now() / 1000) + state.expiresIn;
});

service.on('beforeResponse', (response, req) => {
  const body = req.body || {};
  const grant = body.grant_type || 'unknown';
  state.grants[grant] = (state.grants[grant] || 0) + 1;
  const refuse = (error, description) => {
    state.refused += 1;
    response.statusCode = 400;
    response.body = { error, error_description: description };
  };
  if (state.clientSecret !== null) {
    const basic = (req.headers.authorization || '').replace(/^Basic /, '');
    const decoded = basic ? Buffer.from(basic, 'base64').toString() : '';
    const secret = decoded ? decodeURIComponent(decoded.slice(decoded.indexOf(':') + 1)) : body.client_secret;
    if (secret !== state.clientSecret) return refuse('invalid_client', 'client authentication failed');
  }
  if (state.failNext) {
    const error = state.failNext;
    state.failNext = null;
    return refuse(error, 'refused on purpose by the test');
  }
  if (grant === 'refresh_token' && body.refresh_token !== state.latestRefresh) {
    return refuse('invalid_grant', 'the refresh token was rotated or revoked');
  }
  if (response.statusCode !== 200) return;
  response.body.expires_in = state.expiresIn;
  state.accessTokens.set(response.body.access_token, Date.now() + state.expiresIn * 1000);
  if (response.body.refresh_token) state.latestRefresh = response.body.refresh_token;
});

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const front = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/api/me') {
    const token = (req.headers.authorization || '').replace(/^Bearer /, '');
    const expiry = state.accessTokens.get(token);
    if (!expiry || expiry <= Date.now()) return json(res, 401, { error: 'invalid_token' });
    return json(res, 200, { sub: 'johndoe', token_number: [...state.accessTokens.keys()].indexOf(token) + 1 });
  }
  if (url.pathname === '/_test/stats') {
    return json(res, 200, { grants: state.grants, refused: state.refused, last_authorize: state.lastAuthorize });
  }
  if (url.pathname === '/_test/config' && req.method === 'POST') {
    let text = '';
    req.on('data', (c) => { text += c; });
    req.on('end', () => {
      const c = JSON.parse(text || '{}');
      if ('expires_in' in c) state.expiresIn = c.expires_in;
      if ('fail_next' in c) state.failNext = c.fail_next;
      if ('delay_ms' in c) state.delayMs = c.delay_ms;
      if ('client_secret' in c) state.clientSecret = c.client_secret;
      if (c.revoke_access) state.accessTokens.clear();
      json(res, 200, { ok: true });
    });
    return;
  }
  if (url.pathname === '/authorize') state.lastAuthorize = Object.fromEntries(url.searchParams);
  if (url.pathname === '/token' && state.delayMs > 0) {
    setTimeout(() => service.requestHandler(req, res), state.delayMs);
    return;
  }
  service.requestHandler(req, res);
});

front.listen(0, '127.0.0.1', () => {
  const { port } = front.address();
  provider.issuer.url = `http://127.0.0.1:${port}`;
  process.stdout.write(`listening ${port}\n`);
});
