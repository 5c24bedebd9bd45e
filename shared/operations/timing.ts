import type { Timing } from './orchestrators.js';

/** Orchestration timing from configuration, the same for Durable Functions and any other runner. */
export function timingFrom(config: {
  ROLL_POLL_SECONDS: number;
  ROLL_TIMEOUT_SECONDS: number;
  LIVE_APPLY_TIMEOUT_SECONDS: number;
}): Timing {
  return {
    pollSeconds: config.ROLL_POLL_SECONDS,
    timeoutSeconds: config.ROLL_TIMEOUT_SECONDS,
    liveApplyTimeoutSeconds: config.LIVE_APPLY_TIMEOUT_SECONDS,
    activityAttempts: 5,
    retryDelaySeconds: 2,
  };
}
