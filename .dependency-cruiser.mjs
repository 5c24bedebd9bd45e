// The layer check (part of `npm run lint`): which folder may import which, so dependencies point one way.
//
//   functions/            triggers as plain data; index.ts registers them; imported by nothing in shared/
//   shared/composition.ts the composition root: the only module that sees every adapter
//   shared/http/          the route wrapper, body reading, problem+json, log redaction
//   shared/operations/    orchestrators and activities (they call the use-cases)
//   shared/gateways/      the use-cases and their table (api-use-cases.ts), against the ports only
//   shared/api/           the HTTP contract: route table, schemas, OpenAPI
//   renderers             shared/openvpn/, shared/pki/, shared/kube/manifests.ts: pure builders
//   adapters              shared/kube/kube-cluster.ts, deferred-cluster.ts, shared/secrets/, shared/aks/
//   config                shared/config.ts, shared/auth.ts, shared/startup.ts
//   shared/model/         the domain types, the ports, names and codecs: imports nothing above it
//   kernel                shared/errors.ts, shared/logging.ts, shared/version.ts
//
// What ships (functions/ and shared/) never imports the sandbox or the tests. Type-only imports count.

const KERNEL = '^shared/(errors|logging|version)\\.ts$';
const MODEL = '^shared/model/';
const CONFIG = '^shared/(config|auth|startup)\\.ts$';
const RENDERERS = '^shared/(openvpn/|pki/|kube/manifests\\.ts$)';
const ADAPTERS = '^shared/(secrets/|aks/|kube/(kube-cluster|deferred-cluster)\\.ts$)';
const CONTRACT = '^shared/api/';
const USE_CASES = '^shared/gateways/';
const OPERATIONS = '^shared/operations/';
const HTTP = '^shared/http/';
const COMPOSITION = '^shared/composition\\.ts$';
const SANDBOX = '^sandbox/';
const PRODUCT = '^(functions|shared)/';

const any = (...patterns) => patterns.map((p) => `(${p})`).join('|');

/** A layer may import only the layers listed (and npm or node modules). */
const only = (name, from, allowed, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: '^shared/', pathNot: any(...allowed) },
});

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'product-imports-no-sandbox-or-test',
      comment: 'What deploys (functions/, shared/) must not import the sandbox, the tests or the bench.',
      severity: 'error',
      from: { path: PRODUCT, pathNot: SANDBOX },
      to: { path: any(SANDBOX, '^(test|bench|scripts)/') },
    },
    {
      name: 'nothing-in-shared-imports-functions',
      comment: 'functions/ is the top: shared/ never reaches back up into the triggers.',
      severity: 'error',
      from: { path: '^shared/', pathNot: SANDBOX },
      to: { path: '^functions/' },
    },
    {
      name: 'sandbox-serves-route-lists-not-registrations',
      comment:
        'The sandbox serves the plain route lists; functions/index.ts registers with the Functions host.',
      severity: 'error',
      from: { path: SANDBOX },
      to: { path: '^functions/index\\.ts$' },
    },
    only('kernel-imports-only-kernel', KERNEL, [KERNEL], 'errors, logging and version sit below everything.'),
    only(
      'model-at-the-bottom',
      MODEL,
      [MODEL, KERNEL],
      'The model imports no renderer, adapter or use-case.',
    ),
    only(
      'config-above-model',
      CONFIG,
      [CONFIG, MODEL, KERNEL],
      'Configuration parses with model rules only.',
    ),
    only(
      'renderers-are-pure',
      RENDERERS,
      [RENDERERS, MODEL, KERNEL],
      'Renderers take their input as values.',
    ),
    only(
      'adapters-implement-ports',
      ADAPTERS,
      [ADAPTERS, MODEL, KERNEL],
      'An adapter knows its port and the model, never a use-case or another layer above.',
    ),
    only(
      'contract-below-use-cases',
      CONTRACT,
      [CONTRACT, RENDERERS, CONFIG, MODEL, KERNEL],
      'The HTTP contract is data: the use-cases and the route wrapper read it, it reads neither.',
    ),
    only(
      'use-cases-see-ports-not-adapters',
      USE_CASES,
      [USE_CASES, CONTRACT, RENDERERS, CONFIG, MODEL, KERNEL],
      'Use-cases reach the cluster, the secret store and operations only through the ports of shared/model/.',
    ),
    only(
      'operations-call-use-cases',
      OPERATIONS,
      [OPERATIONS, USE_CASES, RENDERERS, CONFIG, MODEL, KERNEL],
      'operations/ depends on gateways/, never the reverse (that is use-cases-see-ports-not-adapters).',
    ),
    only(
      'http-wraps-use-cases',
      HTTP,
      [HTTP, CONTRACT, USE_CASES, CONFIG, MODEL, KERNEL],
      'The route wrapper knows the contract and the use-case table, never an adapter or the composition.',
    ),
    only(
      'composition-builds-the-product',
      COMPOSITION,
      [COMPOSITION, HTTP, OPERATIONS, USE_CASES, CONTRACT, RENDERERS, ADAPTERS, CONFIG, MODEL, KERNEL],
      'The composition root wires every layer of the product and nothing else.',
    ),
    {
      name: 'no-cycles-in-the-product',
      comment: 'A cycle is a hop back up a layer.',
      severity: 'error',
      from: { path: PRODUCT, pathNot: SANDBOX },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` edges are dependencies too: a type imported upwards is a hop back up a layer.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.check.json' },
  },
};
