// The voice note recorder: MediaRecorder for the sound, an AnalyserNode for the level meter, a
// running time that stops while paused. Renders itself into the element it is given. Every second
// MediaRecorder hands over a piece, which `onChunk` keeps (the capture screen writes it to
// IndexedDB at once), so a crash or a closed tab loses at most the last second.

import { t } from './i18n.js';
import { icon } from './icons.js';
import { formatDuration } from './dom.js';

function pickMime() {
  for (const m of ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm']) {
    if (globalThis.MediaRecorder?.isTypeSupported?.(m)) return m;
  }
  return '';
}

export class VoiceRecorder {
  constructor(el, { onChange, onStart, onChunk, again = 'rec.again', start = 'rec.start' } = {}) {
    this.el = el;
    this.onChange = onChange;
    /** Asked before the microphone opens; resolving false does not start (consent first). */
    this.onStart = onStart;
    /** `(blob, seq, mime)` for each piece as it arrives; may return a promise. */
    this.onChunk = onChunk;
    this.labels = { again, start };
    this.writes = Promise.resolve();
    this.state = 'idle'; // idle | recording | paused | done | error
    this.blob = null;
    this.url = null;
    this.elapsed = 0;
    this.peak = 0;
    this.render();
    el.addEventListener('click', (e) => {
      const action = e.target.closest('[data-rec]')?.dataset.rec;
      if (action) this[action]();
    });
  }

  render() {
    const s = this.state;
    const time = `<span class="rec-time" aria-label="${t('rec.time')}">${formatDuration(this.elapsed)}</span>`;
    const meter = `<div class="meter" role="meter" aria-label="${t('rec.level')}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="meter-bar"></div></div>`;
    let html;
    if (s === 'idle' || s === 'error') {
      html = `<button type="button" class="big rec-start" data-rec="start">${icon('record', 'red')}<span>${t(this.labels.start)}</span></button>
        ${s === 'error' ? `<p class="error" role="alert">${icon('warning')} ${t('rec.no-mic')}</p>` : ''}`;
    } else if (s === 'recording' || s === 'paused') {
      html = `<div class="rec-live" data-state="${s}">
          <p class="rec-status" aria-live="polite">${icon(s === 'recording' ? 'record' : 'pause', 'red')} ${t(s === 'recording' ? 'rec.recording' : 'rec.paused')} ${time}</p>
          ${meter}
          <div class="row">
            ${s === 'recording'
              ? `<button type="button" data-rec="pause">${icon('pause')}<span>${t('rec.pause')}</span></button>`
              : `<button type="button" data-rec="resume">${icon('record', 'red')}<span>${t('rec.resume')}</span></button>`}
            <button type="button" class="primary" data-rec="stop">${icon('stop')}<span>${t('rec.stop')}</span></button>
          </div></div>`;
    } else {
      html = `<div class="rec-done"><p>${icon('check')} ${t('rec.done', { time: formatDuration(this.elapsed) })}</p>
          <audio controls src="${this.url}" aria-label="${t('rec.listen')}"></audio>
          <button type="button" data-rec="${this.labels.again === 'rec.again' ? 'discard' : 'start'}">${icon(this.labels.again === 'rec.again' ? 'cross' : 'record', 'red')}<span>${t(this.labels.again)}</span></button></div>`;
    }
    this.el.innerHTML = html;
    this.el.dataset.state = s;
    this.el.dataset.peak = String(Math.round(this.peak));
  }

  async start() {
    if (this.busy || this.starting) return;
    this.starting = true;
    try {
      if (this.onStart && !(await this.onStart())) return;
      await this.open();
    } finally {
      this.starting = false;
    }
  }

  async open() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      console.warn('microphone:', e);
      this.state = 'error';
      this.render();
      return;
    }
    const mimeType = pickMime();
    this.chunks = [];
    if (this.url) URL.revokeObjectURL(this.url);
    this.blob = null;
    this.url = null;
    this.rec = new MediaRecorder(this.stream, mimeType ? { mimeType } : undefined);
    let seq = 0;
    this.rec.ondataavailable = (e) => {
      if (e.data.size === 0) return;
      this.chunks.push(e.data);
      if (this.onChunk) {
        const n = seq++;
        const mime = this.rec.mimeType || 'audio/webm';
        // In order, one after the other: `stop` waits for the last one.
        this.writes = this.writes.then(() => this.onChunk(e.data, n, mime)).catch((err) => console.error('recording piece:', err));
      }
    };
    this.rec.start(1000);
    this.ctx = new AudioContext();
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    source.connect(this.analyser);
    this.samples = new Uint8Array(this.analyser.fftSize);
    this.elapsed = 0;
    this.peak = 0;
    this.since = performance.now();
    this.state = 'recording';
    this.render();
    this.onChange?.(this);
    this.loop();
  }

  loop() {
    if (this.state !== 'recording' && this.state !== 'paused') return;
    const now = performance.now();
    let level = 0;
    if (this.state === 'recording') {
      this.analyser.getByteTimeDomainData(this.samples);
      let sum = 0;
      for (const v of this.samples) sum += ((v - 128) / 128) ** 2;
      level = Math.min(100, Math.sqrt(sum / this.samples.length) * 400);
      this.peak = Math.max(this.peak, level);
    }
    const elapsed = this.elapsed + (this.state === 'recording' ? now - this.since : 0);
    const bar = this.el.querySelector('.meter-bar');
    if (bar) bar.style.transform = `scaleX(${level / 100})`;
    const timeEl = this.el.querySelector('.rec-time');
    if (timeEl) timeEl.textContent = formatDuration(elapsed);
    if (!this.lastAria || now - this.lastAria > 500) {
      this.lastAria = now;
      this.el.querySelector('.meter')?.setAttribute('aria-valuenow', String(Math.round(level)));
      this.el.dataset.peak = String(Math.round(this.peak));
    }
    requestAnimationFrame(() => this.loop());
  }

  pause() {
    if (this.state !== 'recording') return;
    this.rec.pause();
    this.elapsed += performance.now() - this.since;
    this.state = 'paused';
    this.render();
    this.loop();
  }

  resume() {
    if (this.state !== 'paused') return;
    this.rec.resume();
    this.since = performance.now();
    this.state = 'recording';
    this.render();
    this.loop();
  }

  async stop() {
    if (this.state !== 'recording' && this.state !== 'paused') return;
    if (this.state === 'recording') this.elapsed += performance.now() - this.since;
    const stopped = new Promise((resolve) => { this.rec.onstop = resolve; });
    this.rec.stop();
    await stopped;
    await this.writes;
    this.release();
    this.blob = new Blob(this.chunks, { type: this.rec.mimeType || 'audio/webm' });
    this.url = URL.createObjectURL(this.blob);
    this.state = 'done';
    this.render();
    this.onChange?.(this);
  }

  discard() {
    if (this.url) URL.revokeObjectURL(this.url);
    this.blob = null;
    this.url = null;
    this.elapsed = 0;
    this.state = 'idle';
    this.render();
    this.onChange?.(this);
  }

  release() {
    this.stream?.getTracks().forEach((tr) => tr.stop());
    this.ctx?.close();
    this.stream = null;
    this.ctx = null;
  }

  /** Whether something is being recorded right now (saving must wait for stop). */
  get busy() {
    return this.state === 'recording' || this.state === 'paused';
  }
}
