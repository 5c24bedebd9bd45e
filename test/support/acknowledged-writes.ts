/**
 * The log of every write the API acknowledged (a 2xx answer, or a use-case that returned), and what it
 * promises about the final state: an acknowledged gateway exists until an acknowledged deletion, an
 * acknowledged issue is a client with that serial and address, an acknowledged revocation is a revoked
 * client, an acknowledged port-mapping set is the gateway's set (less the mappings of clients revoked
 * later). The crash test and the soak record into it and check it with the other invariants.
 */
import type { GatewayState, PortMapping } from '../../shared/model/gateway.js';
import type { Violation } from './invariants.js';

interface ExpectedClient {
  readonly serial: string;
  readonly ip: string;
  status: 'active' | 'revoked';
}

interface ExpectedGateway {
  present: boolean;
  readonly clients: Map<string, ExpectedClient>;
  mappings: readonly PortMapping[] | undefined;
}

const mappingKey = (m: PortMapping) => `${m.port}/${m.protocol}->${m.client}:${m.targetPort}`;

export class AcknowledgedWrites {
  private readonly gateways = new Map<string, ExpectedGateway>();
  /** Acknowledged writes recorded so far. */
  count = 0;

  private gateway(name: string): ExpectedGateway {
    let g = this.gateways.get(name);
    if (!g) {
      g = { present: true, clients: new Map(), mappings: undefined };
      this.gateways.set(name, g);
    }
    return g;
  }

  /** The gateways the log knows of (present or deleted). */
  names(): string[] {
    return [...this.gateways.keys()];
  }

  gatewayPut(name: string): void {
    this.count += 1;
    this.gateway(name).present = true;
  }

  gatewayDeleted(name: string): void {
    this.count += 1;
    const g = this.gateway(name);
    g.present = false;
    g.clients.clear();
    g.mappings = undefined;
  }

  clientIssued(gateway: string, client: { name: string; serial: string; ip: string }): void {
    this.count += 1;
    this.gateway(gateway).clients.set(client.name, {
      serial: client.serial,
      ip: client.ip,
      status: 'active',
    });
  }

  clientRevoked(gateway: string, name: string): void {
    this.count += 1;
    const g = this.gateway(gateway);
    const c = g.clients.get(name);
    if (c) c.status = 'revoked';
    // A revocation (forced when it had to be) removes the client's mappings.
    if (g.mappings) g.mappings = g.mappings.filter((m) => m.client !== name);
  }

  mappingsReplaced(gateway: string, mappings: readonly PortMapping[]): void {
    this.count += 1;
    this.gateway(gateway).mappings = [...mappings];
  }

  /** What the final states (by gateway; undefined = no state) break of the acknowledged writes. */
  check(states: ReadonlyMap<string, GatewayState | undefined>): Violation[] {
    const out: Violation[] = [];
    const lost = (gateway: string, detail: string) =>
      out.push({ invariant: 'acknowledged', gateway, detail });
    for (const [name, expected] of this.gateways) {
      const state = states.get(name);
      if (!expected.present) {
        if (state) lost(name, 'an acknowledged deletion is undone: the gateway still has its state');
        continue;
      }
      if (!state) {
        lost(name, 'an acknowledged gateway is gone');
        continue;
      }
      for (const [client, want] of expected.clients) {
        const record = state.clients.find((c) => c.name === client);
        if (!record) lost(name, `client ${client} (serial ${want.serial}) acknowledged, now gone`);
        else if (record.serial !== want.serial || record.ip !== want.ip)
          lost(
            name,
            `client ${client} acknowledged as ${want.serial} at ${want.ip}, now ${record.serial} at ${record.ip}`,
          );
        else if (record.status !== want.status)
          lost(name, `client ${client} acknowledged ${want.status}, now ${record.status}`);
      }
      if (expected.mappings) {
        const want = expected.mappings.map(mappingKey).sort().join(', ');
        const have = state.portMappings.map(mappingKey).sort().join(', ');
        if (want !== have) lost(name, `port mappings acknowledged [${want}], now [${have}]`);
      }
    }
    return out;
  }
}
