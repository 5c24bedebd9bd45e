/**
 * A gateway's Kubernetes objects for the end-to-end suites, by the product's own path from a state and a
 * server PKI to manifests (`manifestInputOf`: rendered server.conf and entrypoint, CCD entries and port
 * mappings derived from the state, then the manifest builder), so the pod the suites run is the one the API
 * would apply.
 */
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { manifestInputOf } from '../../../shared/gateways/gateway-objects.js';
import { buildGatewayManifests } from '../../../shared/kube/manifests.js';
import type { KubeObject } from '../../../shared/model/cluster-port.js';
import type { GatewaySpec, GatewayState, PortMapping, ServerPki } from '../../../shared/model/gateway.js';
import { CCD_SHARDS } from '../../../shared/model/names.js';

/** A certificate's identity as the state records it. */
interface Issued {
  readonly serial: string;
  readonly notAfter: Date;
}

export interface E2eGateway {
  readonly spec: GatewaySpec;
  readonly pki: ServerPki;
  readonly server: Issued;
  /** Active clients: each gets a CCD entry at `ip`, with an `iroute` per LAN subnet. */
  readonly clients?: readonly {
    readonly name: string;
    readonly ip: string;
    readonly cert: Issued;
    readonly subnets?: readonly string[];
  }[];
  readonly portMappings?: readonly PortMapping[];
}

// Only the two settings the manifests read.
const deps = {
  config: { OPENVPN_IMAGE: 'registry.example/openvpn:e2e', LABEL_DOMAIN: 'vpn.example.io' },
} as Pick<GatewayDeps, 'config'>;

/** The objects the API applies for a gateway's recorded state and server PKI (a sandbox's, say). */
export function objectsOfState(state: GatewayState, pki: ServerPki): KubeObject[] {
  return buildGatewayManifests(manifestInputOf(deps, state, pki));
}

export function gatewayObjects(gateway: E2eGateway): KubeObject[] {
  const now = new Date().toISOString();
  const state: GatewayState = {
    spec: gateway.spec,
    clients: (gateway.clients ?? []).map((c) => ({
      name: c.name,
      ip: c.ip,
      serial: c.cert.serial,
      issuedAt: now,
      notAfter: c.cert.notAfter.toISOString(),
      status: 'active',
      keySource: 'generated',
      ...(c.subnets ? { subnets: c.subnets } : {}),
    })),
    // Metadata only: the pod reads the CRL itself from the Secret.
    crl: { number: 1, thisUpdate: now, nextUpdate: now },
    portMappings: gateway.portMappings ?? [],
    server: { serial: gateway.server.serial, notAfter: gateway.server.notAfter.toISOString() },
    createdAt: now,
    // The layout of every gateway created since CCD shards exist: the pod mounts them as one projected volume.
    ccdShards: CCD_SHARDS,
  };
  return objectsOfState(state, gateway.pki);
}
