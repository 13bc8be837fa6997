// The end-to-end harness: a real vertel-server on loopback with a throwaway data directory and the
// built mobile shell, members made with `vertel-server member add`, Debian's Chromium driven by
// playwright-core at 360x640 (never a downloaded browser), a fake microphone fed a WAV spoken by
// espeak-ng, and screenshots in tests/artifacts/.

import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = join(ROOT, 'mobile-shell/dist');
export const ARTIFACTS = join(ROOT, 'tests/artifacts');
export const PASSWORD = 'wachtwoord-e2e-123';
export const CHROMIUM = process.env.VERTEL_CHROMIUM ?? '/usr/bin/chromium';

export function serverBinary() {
  if (process.env.VERTEL_SERVER_BIN) return process.env.VERTEL_SERVER_BIN;
  for (const profile of ['debug', 'release']) {
    const p = join(ROOT, 'target', profile, 'vertel-server');
    if (existsSync(p)) return p;
  }
  throw new Error('vertel-server is not built: run `cargo build -p vertel-server` (or set VERTEL_SERVER_BIN)');
}

export class Server {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'vertel-e2e-'));
    this.env = { ...process.env, VERTEL_DATA_DIR: this.dir, VERTEL_LOG: 'warn' };
    delete this.env.VERTEL_DATABASE_URL;
    this.log = [];
  }

  cli(args, input) {
    const r = spawnSync(serverBinary(), args, { env: this.env, input, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vertel-server ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** A workspace with a professional (enrollment code returned) and a coordinator (password). */
  setUp() {
    this.cli(['workspace', 'add', 'e2e', '--name', 'Kansrijke Start E2E']);
    const code = this.cli(['member', 'add', '--workspace', 'e2e', '--email', 'nina@e2e.test', '--role', 'professional', '--name', 'Nina']);
    this.cli(['member', 'add', '--workspace', 'e2e', '--email', 'coordinator@e2e.test', '--role', 'coordinator', '--name', 'Cor', '--password-stdin'], PASSWORD);
    return code;
  }

  /** The demo workspace "DWO regio" (`vertel-server seed --demo`); demo password `vertel-demo-2026`. */
  seedDemo() {
    return this.cli(['seed', '--demo']);
  }

  async start() {
    if (!existsSync(join(DIST, 'index.html'))) throw new Error('mobile-shell/dist is missing: run mobile-shell/build.sh');
    this.child = spawn(serverBinary(), ['serve', '--listen', '127.0.0.1:0', '--shell-dir', DIST], {
      env: this.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr.on('data', (d) => this.log.push(String(d)));
    const lines = createInterface({ input: this.child.stdout });
    this.url = await new Promise((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${this.log.join('')}`)), 30000);
      this.child.on('exit', (c) => reject(new Error(`server exited (${c}): ${this.log.join('')}`)));
      lines.on('line', (line) => {
        const m = line.match(/listening on (http:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      });
    });
    return this.url;
  }

  async stop() {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async api(method, path, { token, body } = {}) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body) headers['content-type'] = 'application/json';
    const resp = await fetch(this.url + path, { method, headers, body: body && JSON.stringify(body) });
    return resp;
  }

  async login(email, password = PASSWORD) {
    const resp = await this.api('POST', '/api/v1/auth/login', { body: { email, password } });
    if (!resp.ok) throw new Error(`login ${email}: ${resp.status}`);
    return (await resp.json()).token;
  }

  /** Every change visible to the token (the REST feed). */
  async feed(token) {
    const out = [];
    let since = 0;
    for (;;) {
      const resp = await this.api('GET', `/api/v1/stories/changes?since=${since}&limit=5000`, { token });
      if (!resp.ok) throw new Error(`feed: ${resp.status}`);
      const page = await resp.json();
      out.push(...page.changes);
      since = page.next;
      if (!page.more) return out;
    }
  }
}

/** A WAV of Dutch speech made by espeak-ng, for Chromium's fake microphone. */
export function speechWav(dir, text) {
  const file = join(dir, 'voice.wav');
  const r = spawnSync('espeak-ng', ['-v', 'nl', '-s', '140', '-w', file, text], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`espeak-ng failed: ${r.stderr}`);
  return file;
}

export async function launch(wav) {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ];
  if (wav) {
    args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args });
}

export async function phone(browser) {
  const context = await browser.newContext({
    viewport: { width: 360, height: 640 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'nl-NL',
    permissions: ['microphone'],
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error('[console]', m.text());
  });
  return { context, page };
}

/** What the phone's screen shows now (360x640); `full` for the whole scrolled page. */
export async function screenshot(page, name, { full = false } = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // A whole-page picture with the bars at their place in the page, not pinned mid-picture.
  const pin = (position) => page.evaluate((p) => {
    for (const id of ['top', 'nav']) document.getElementById(id).style.position = p;
  }, position);
  if (full) await pin('static');
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: full });
  if (full) await pin('');
}

/** A PNG photo of `width`x`height` (a colour gradient), as a camera would hand the browser. */
export function pngPhoto(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set([(x * 255) / width, (y * 255) / height, 128], row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}
