// Entry point the Functions host loads (package.json "main"): importing a module registers its triggers.
import './routes.js';
import './orchestrations.js';
import './crl-timer.js';
