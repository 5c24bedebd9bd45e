// Local sandbox host (`npm start`): serves the function handlers on http://127.0.0.1:7071/api without
// Azure Functions Core Tools. For now it serves healthz only; the full host arrives with the HTTP layer.
import { createServer } from 'node:http';
import { loadConfig } from '../config.js';
import { VERSION } from '../version.js';

const config = loadConfig();
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', version: VERSION }));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404 }));
});
server.listen(config.SANDBOX_PORT, config.SANDBOX_HOST, () => {
  console.log(
    `aks-vpn-gateways ${VERSION} sandbox listening on http://${config.SANDBOX_HOST}:${config.SANDBOX_PORT}/api`,
  );
});
