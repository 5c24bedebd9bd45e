// Entry point the Functions host loads (package.json "main"): importing a module registers its triggers.
// The configuration is checked first, when the host starts the app (app.hook.appStart).
import './app-start.js';
import './routes.js';
import './orchestrations.js';
import './crl-timer.js';
