// Opens the kuack agent page in headless Chromium (Debian's /usr/bin/chromium via playwright-core)
// and keeps it open until SIGTERM, forwarding page errors. Writes a screenshot after the browser
// has registered and again just before exit.  usage: node open-page.mjs URL [screenshot.png]
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../agent/package.json'));
const { chromium } = require('playwright-core');

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  handleSIGTERM: false,
  handleSIGINT: false,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
await page.goto(url);
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  if (shot) await page.screenshot({ path: shot, fullPage: true }).catch((e) => console.error(`screenshot: ${e.message}`));
  await browser.close().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`browser: opened ${url}`);
// A first screenshot once the agent has had time to register (refreshed again at exit).
if (shot) setTimeout(() => page.screenshot({ path: shot, fullPage: true }).catch(() => {}), 3000);
