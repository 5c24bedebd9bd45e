/**
 * A local HTTP server answering the Durable Functions extension's HTTP API as the durable-functions
 * client calls it when the host gives it an `rpcBaseUrl` (out-of-process languages):
 * `POST orchestrators/{name}[/{instanceId}]` starts an instance (202 + its management URLs; 409 when
 * an instance with that id is still active), `GET instances/{id}` answers its status (404 when unknown),
 * `POST instances/{id}/raiseEvent/{name}` records an event (202; 410 once the instance is not running).
 * Instances do not run here unless a test sets `host` (it then runs each started instance itself, e.g.
 * through the replay engine); otherwise a test moves them between runtime statuses itself.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeInstance {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
}

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

export class DurableExtensionServer {
  readonly instances = new Map<string, FakeInstance>();
  readonly requests: string[] = [];
  /** Events raised on running instances, in order. */
  readonly events: { instanceId: string; name: string; input: unknown }[] = [];
  /** Status codes to answer the next matching requests with instead of serving them. */
  readonly faults: { method: string; pathPrefix: string; status: number; then?: () => void }[] = [];
  /** Runs an instance once it is started (a test's Durable host); it updates the instance's status. */
  host?: ((instance: FakeInstance) => void) | undefined;
  private server: Server | undefined;
  private base = '';

  /** The client input binding's data, as the extension hands it to a function. */
  clientData(): Record<string, unknown> {
    const webhooks = `${this.base}/runtime/webhooks/durabletask`;
    return {
      taskHubName: 'vpngateways',
      creationUrls: {
        createNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]`,
        createAndWaitOnNewInstancePostUri: `${webhooks}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}`,
      },
      managementUrls: {
        id: 'INSTANCEID',
        statusQueryGetUri: `${webhooks}/instances/INSTANCEID`,
        sendEventPostUri: `${webhooks}/instances/INSTANCEID/raiseEvent/{eventName}`,
        terminatePostUri: `${webhooks}/instances/INSTANCEID/terminate?reason={text}`,
        rewindPostUri: `${webhooks}/instances/INSTANCEID/rewind?reason={text}`,
        purgeHistoryDeleteUri: `${webhooks}/instances/INSTANCEID`,
        suspendPostUri: `${webhooks}/instances/INSTANCEID/suspend?reason={text}`,
        resumePostUri: `${webhooks}/instances/INSTANCEID/resume?reason={text}`,
      },
      baseUrl: webhooks,
      requiredQueryStringParameters: '',
      rpcBaseUrl: `${this.base}/durabletask/`,
    };
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.base);
    const path = url.pathname.replace(/^\/durabletask\//, '');
    this.requests.push(`${req.method} ${path}`);
    const send = (status: number, json?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(json === undefined ? '' : JSON.stringify(json));
    };
    const fault = this.faults.findIndex((f) => f.method === req.method && path.startsWith(f.pathPrefix));
    if (fault >= 0) {
      const [{ status, then }] = this.faults.splice(fault, 1) as [(typeof this.faults)[number]];
      then?.();
      return send(status, { Message: 'injected fault' });
    }
    const start = /^orchestrators\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (req.method === 'POST' && start) {
      const [, name = '', instanceId = randomUUID().replaceAll('-', '')] = start;
      const existing = this.instances.get(instanceId);
      if (existing && ACTIVE.has(existing.runtimeStatus))
        return send(409, { Message: `An instance with ID '${instanceId}' already exists.` });
      const now = new Date().toISOString();
      const instance: FakeInstance = {
        name,
        instanceId,
        runtimeStatus: 'Pending',
        input: body === '' ? null : (JSON.parse(body) as unknown),
        output: null,
        createdTime: now,
        lastUpdatedTime: now,
      };
      this.instances.set(instanceId, instance);
      this.host?.(instance);
      return send(202, {
        id: instanceId,
        statusQueryGetUri: `${this.base}/durabletask/instances/${instanceId}`,
      });
    }
    const raise = /^instances\/([^/]+)\/raiseEvent\/([^/]+)$/.exec(path);
    if (req.method === 'POST' && raise) {
      const instance = this.instances.get(raise[1] ?? '');
      if (!instance) return send(404);
      // The extension accepts events for running instances only (410 Gone otherwise).
      if (!ACTIVE.has(instance.runtimeStatus)) return send(410);
      this.events.push({
        instanceId: instance.instanceId,
        name: raise[2] ?? '',
        input: JSON.parse(body) as unknown,
      });
      return send(202);
    }
    const status = /^instances\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && status) {
      const instance = this.instances.get(status[1] ?? '');
      return instance ? send(200, instance) : send(404);
    }
    send(404, { Message: `no route ${req.method} ${path}` });
  }
}
