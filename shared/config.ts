/**
 * Configuration, parsed once at start from the environment into a frozen, typed object.
 * A missing or bad setting fails at start with every problem listed (ConfigError).
 * Every setting here is documented in the README's configuration table.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { parseCanonicalCidr } from './model/cidr.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const positiveInt = z.coerce.number().int().positive();
const port = z.coerce.number().int().min(1).max(65535);

/** The CRL timer's default: NCRONTAB (six fields, with seconds), daily at 03:00 UTC. */
export const DEFAULT_CRL_TIMER_SCHEDULE = '0 0 3 * * *';

const schema = z
  .object({
    KUBE_TARGET: z.enum(['sandbox', 'kubeconfig', 'aks']).optional(),
    KUBECONFIG: z.string().min(1).optional(),
    AZURE_SUBSCRIPTION_ID: z.string().uuid().optional(),
    AKS_RESOURCE_GROUP: z.string().min(1).optional(),
    AKS_CLUSTER_NAME: z.string().min(1).optional(),
    // Removed setting, still recognised so that an old deployment's 'admin' stops the start instead of
    // being ignored: the API only uses the cluster-user kubeconfig.
    AKS_CREDENTIALS: z
      .literal('user', {
        error:
          "only 'user': the local admin credential ('admin') was removed; it bypasses Entra ID and Kubernetes RBAC (the API's rights are the ClusterRole in infra/kube)",
      })
      .optional(),
    AKS_SERVER_APP_ID: z.string().min(1).default('6dae42f8-4368-4678-94ff-3960e28e3630'),
    ARM_ENDPOINT: z.string().url().default('https://management.azure.com'),
    DEFAULT_ROUTES: z
      .string()
      .default('')
      .refine(
        (v) =>
          v
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean)
            .every((r) => parseCanonicalCidr(r) !== undefined),
        'a comma-separated list of IPv4 CIDRs without host bits, e.g. 10.0.0.0/16,10.244.0.0/16',
      ),
    SECRET_STORE: z.enum(['directory', 'keyvault']).default('directory'),
    SECRETS_DIR: z.string().min(1).default('.data/secrets'),
    KEY_VAULT_URL: z.string().url().optional(),
    // No default outside the sandbox: a default would name a registry the deployer does not own, and a pod
    // that cannot pull its image only shows as a roll that times out. Infra sets it to the image by digest.
    OPENVPN_IMAGE: z.string().min(1).optional(),
    LABEL_DOMAIN: z
      .string()
      .max(253)
      .regex(
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
        'a DNS subdomain (a Kubernetes label prefix), e.g. vpn.example.com',
      )
      .default('vpn.aks-gateways.io'),
    CRL_VALIDITY_DAYS: positiveInt.default(30),
    CRL_RENEW_BEFORE_DAYS: positiveInt.default(7),
    EXPIRY_WARNING_DAYS: positiveInt.default(30),
    CRL_TIMER_SCHEDULE: z
      .string()
      .regex(/^\S+( \S+){5}$/, 'an NCRONTAB expression with six fields (seconds first), e.g. 0 0 3 * * *')
      .default(DEFAULT_CRL_TIMER_SCHEDULE),
    ROLL_TIMEOUT_SECONDS: positiveInt.default(600),
    ROLL_POLL_SECONDS: positiveInt.default(5),
    LIVE_APPLY_TIMEOUT_SECONDS: positiveInt.default(300),
    AUTH_ROLES_ENABLED: bool.default(false),
    SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
    SANDBOX_PORT: port.default(7071),
    SANDBOX_DATA_DIR: z.string().min(1).default('.data'),
  })
  .superRefine((env, ctx) => {
    const target = env.KUBE_TARGET ?? (env.KUBECONFIG ? 'kubeconfig' : 'sandbox');
    if (target === 'kubeconfig' && !env.KUBECONFIG)
      ctx.addIssue({ code: 'custom', path: ['KUBECONFIG'], message: 'required when KUBE_TARGET=kubeconfig' });
    if (target === 'aks')
      for (const key of ['AZURE_SUBSCRIPTION_ID', 'AKS_RESOURCE_GROUP', 'AKS_CLUSTER_NAME'] as const)
        if (!env[key])
          ctx.addIssue({ code: 'custom', path: [key], message: 'required when KUBE_TARGET=aks' });
    if (target !== 'sandbox' && !env.OPENVPN_IMAGE)
      ctx.addIssue({
        code: 'custom',
        path: ['OPENVPN_IMAGE'],
        message: `required when KUBE_TARGET=${target}: the gateway image in a registry the cluster can pull (azd sets it to the image built from infra/image, by digest)`,
      });
    if (env.SECRET_STORE === 'keyvault' && !env.KEY_VAULT_URL)
      ctx.addIssue({
        code: 'custom',
        path: ['KEY_VAULT_URL'],
        message: 'required when SECRET_STORE=keyvault',
      });
  });

/** The image name the sandbox renders into its Deployments: nothing pulls it, and it names no registry. */
export const SANDBOX_OPENVPN_IMAGE = 'localhost/aks-vpn-gateways/openvpn:sandbox';

export type Config = Readonly<
  Omit<z.output<typeof schema>, 'KUBE_TARGET' | 'DEFAULT_ROUTES' | 'OPENVPN_IMAGE'> & {
    KUBE_TARGET: 'sandbox' | 'kubeconfig' | 'aks';
    DEFAULT_ROUTES: readonly string[];
    OPENVPN_IMAGE: string;
  }
>;

/** Parses the environment; throws ConfigError listing every bad or missing key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset" (Azure app settings cannot be deleted from some templates).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const v = parsed.data;
  return Object.freeze({
    ...v,
    KUBE_TARGET: v.KUBE_TARGET ?? (v.KUBECONFIG ? 'kubeconfig' : 'sandbox'),
    OPENVPN_IMAGE: v.OPENVPN_IMAGE ?? SANDBOX_OPENVPN_IMAGE,
    DEFAULT_ROUTES: Object.freeze(
      v.DEFAULT_ROUTES.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  });
}
