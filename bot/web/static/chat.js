/* xinfang-bot web chat — vanilla ES2020, no dependencies.
 *
 * Contract (same origin, cookie session):
 *   GET  /chat/api/history      -> {lang, messages:[{id, direction:"in"|"out", text, choices, at}]}
 *   POST /chat/api/messages     JSON {client_id, text}       -> {replies:[{id, text, choices, at}]}
 *   POST /chat/api/attachments  multipart {client_id, file}  -> {replies:[...]}
 *   GET  /chat/api/events       SSE, event "message", id = out-id, data = {id, text, choices, at}
 *
 * All message text is untrusted: it is only ever written with textContent.
 */
(() => {
  "use strict";

  const API = {
    history: "/chat/api/history",
    messages: "/chat/api/messages",
    attachments: "/chat/api/attachments",
    events: "/chat/api/events",
  };
  const MAX_FILE_BYTES = 10 * 1024 * 1024;
  const MAX_INPUT_LINES = 6;
  const BACKOFF_MAX_MS = 30000;
  const SEND_TIMEOUT_MS = 30000;
  const UPLOAD_TIMEOUT_MS = 180000;
  const BANNER_DELAY_MS = 1500;
  const STORE = {
    lang: "xinfang.chat.lang",
    draft: "xinfang.chat.draft",
    outbox: "xinfang.chat.outbox",
    size: "xinfang.chat.size",
  };
  const LANG_CMD = /^\/lang\s+(zh|en)\s*$/i;

  const STRINGS = {
    zh: {
      htmlLang: "zh-CN",
      title: "信访服务 · 在线反映",
      placeholder: "请输入…",
      send: "发送",
      attach: "附件",
      inputLabel: "输入消息",
      inputHint: "按 Enter 发送，Shift+Enter 换行",
      logLabel: "对话记录",
      emptyHint: "您好！这里是信访事项网上受理平台。可以直接写下您要反映的事情，也可以点下面的按钮：",
      menu: ["新建信访事项", "查询办理进度", "我的事项", "帮助"],
      sizeLarge: "大字",
      myCases: "我的事项",
      sizeNormal: "标准字",
      newMessages: "有新消息 ↓",
      connConnecting: "连接中…",
      connOnline: "已连接",
      connOffline: "连接中断",
      bannerReconnecting: "连接中断，正在重连…",
      langToggle: "English",
      langToggleAria: "Switch to English",
      langToggleLang: "en",
      langSwitched: "已切换为中文",
      sending: "发送中…",
      retrying: "重试中",
      retryNow: "重试中 · 点击立即重试",
      failed: "未发送",
      uploading: "上传中…",
      fileTooBig: "文件“{name}”大小为 {size}，超过 10 MB 上限，未上传。请压缩后重试。",
      fileEmpty: "文件“{name}”是空文件，未上传。",
      requestFailed: "发送失败（{status}），请稍后再试。",
      historyFailed: "无法加载对话记录，正在重试…",
      restored: "未发送成功的内容已放回输入框。",
      you: "您",
      bot: "信访服务",
      attachment: "附件",
    },
    en: {
      htmlLang: "en",
      title: "Petition Service · Online",
      placeholder: "Type a message…",
      send: "Send",
      attach: "Attach",
      inputLabel: "Message",
      inputHint: "Press Enter to send, Shift+Enter for a new line",
      logLabel: "Conversation",
      emptyHint: "Hello! This is the online petition service. Write what you want to raise, or tap a button below:",
      menu: ["File a petition", "Check status", "My cases", "Help"],
      sizeLarge: "Large text",
      myCases: "My petitions",
      sizeNormal: "Normal text",
      newMessages: "New messages ↓",
      connConnecting: "Connecting…",
      connOnline: "Connected",
      connOffline: "Disconnected",
      bannerReconnecting: "Connection lost, reconnecting…",
      langToggle: "中文",
      langToggleAria: "切换到中文",
      langToggleLang: "zh-CN",
      langSwitched: "Switched to English",
      sending: "Sending…",
      retrying: "retrying",
      retryNow: "retrying · tap to retry now",
      failed: "Not sent",
      uploading: "Uploading…",
      fileTooBig: "“{name}” is {size}, over the 10 MB limit, so it was not uploaded. Please compress it and try again.",
      fileEmpty: "“{name}” is empty and was not uploaded.",
      requestFailed: "Sending failed ({status}). Please try again later.",
      historyFailed: "Could not load the conversation, retrying…",
      restored: "The unsent text has been put back in the input box.",
      you: "You",
      bot: "Petition Service",
      attachment: "Attachment",
    },
  };

  // ---------------------------------------------------------------- utils

  const $ = (id) => document.getElementById(id);
  const els = {
    log: $("log"),
    logWrap: $("log-wrap"),
    empty: $("empty"),
    jump: $("jump"),
    banner: $("banner"),
    conn: $("conn"),
    connText: $("conn-text"),
    langToggle: $("lang-toggle"),
    form: $("composer"),
    input: $("input"),
    send: $("send-btn"),
    attach: $("attach-btn"),
    file: $("file-input"),
  };

  const storage = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch (_) { return null; }
    },
    set(key, value) {
      try {
        if (value === null || value === undefined || value === "") window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, value);
      } catch (_) { /* private mode / quota: ignore */ }
    },
  };

  function uuid() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (_) { /* insecure context */ }
    }
    const b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function fmtSize(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    const now = new Date();
    const hm = d.toLocaleTimeString(STRINGS[state.lang].htmlLang, { hour: "2-digit", minute: "2-digit", hour12: false });
    if (d.toDateString() === now.toDateString()) return hm;
    const md = d.toLocaleDateString(STRINGS[state.lang].htmlLang, { month: "numeric", day: "numeric" });
    return `${md} ${hm}`;
  }

  function normChoices(raw) {
    if (!Array.isArray(raw)) return [];
    const out = [];
    for (const c of raw) {
      if (Array.isArray(c) && c.length >= 2 && c[1] != null) out.push([String(c[0]), String(c[1])]);
      else if (Array.isArray(c) && c.length === 1 && c[0] != null) out.push([String(c[0]), String(c[0])]);
      else if (typeof c === "string") out.push([c, c]);
    }
    return out;
  }

  // ---------------------------------------------------------------- state

  const state = {
    lang: "zh",
    seen: new Set(),          // message ids already rendered (server ids + client ids)
    lastBot: null,            // the <li> of the last bot message
    queue: [],                // outgoing jobs, processed strictly in order
    busy: false,
    wake: null,               // resolves the current backoff sleep early
    es: null,
    esRetry: 0,
    bannerTimer: null,
    historyLoaded: false,
    pinned: true,             // is the view following the newest message?
  };

  function t(key, vars) {
    let s = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.zh[key] || key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }

  // ---------------------------------------------------------------- i18n

  function applyLang() {
    const S = STRINGS[state.lang];
    document.documentElement.lang = S.htmlLang;
    document.title = S.title;
    document.querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n, el._i18nVars);
    });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
    });
    document.querySelectorAll("[data-i18n-aria]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nAria));
    });
    document.querySelectorAll("[data-i18n-title]").forEach((el) => {
      el.setAttribute("title", t(el.dataset.i18nTitle));
    });
    renderStartMenu();
    renderSize();
    els.langToggle.textContent = S.langToggle;
    els.langToggle.setAttribute("aria-label", S.langToggleAria);
    els.langToggle.setAttribute("lang", S.langToggleLang);
    document.querySelectorAll("time[datetime]").forEach((el) => {
      el.textContent = fmtTime(el.getAttribute("datetime"));
    });
    setConn(els.conn.dataset.state || "connecting");
  }

  // The start menu: what a citizen can do, before anything is written (the same words the
  // bot's menu understands).
  function renderStartMenu() {
    const box = $("start-menu");
    box.replaceChildren();
    for (const label of STRINGS[state.lang].menu) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "choice";
      b.textContent = label;
      b.addEventListener("click", () => enqueueText(label));
      box.appendChild(b);
    }
  }

  // 适老化: large text and buttons with stronger contrast, remembered on this phone.
  function renderSize() {
    const large = storage.get(STORE.size) === "large";
    document.documentElement.classList.toggle("large", large);
    const toggle = $("size-toggle");
    toggle.textContent = large ? STRINGS[state.lang].sizeNormal : STRINGS[state.lang].sizeLarge;
    toggle.setAttribute("aria-pressed", large ? "true" : "false");
  }

  function toggleSize() {
    storage.set(STORE.size, storage.get(STORE.size) === "large" ? "" : "large");
    renderSize();
  }

  function toggleLang() {
    const next = state.lang === "zh" ? "en" : "zh";
    state.lang = next;
    storage.set(STORE.lang, next);
    applyLang();
    enqueueText(`/lang ${next}`);
  }

  // ---------------------------------------------------------------- rendering

  function i18nSpan(tag, key, cls, vars) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.dataset.i18n = key;
    if (vars) el._i18nVars = vars;
    el.textContent = t(key, vars);
    return el;
  }

  function isNearBottom() {
    const w = els.logWrap;
    return w.scrollHeight - w.scrollTop - w.clientHeight < 80;
  }

  function scrollToBottom() {
    const w = els.logWrap;
    w.scrollTop = w.scrollHeight;
    state.pinned = true;
    els.jump.hidden = true;
  }

  /** Append an element to the log, keeping the view pinned to the bottom when appropriate. */
  function appendToLog(li, force) {
    els.log.appendChild(li);
    els.empty.hidden = true;
    if (force || state.pinned || !state.historyLoaded) scrollToBottom();
    else els.jump.hidden = false;
  }

  function addNote(text, kind, key, vars) {
    const li = document.createElement("li");
    li.className = `note${kind ? " " + kind : ""}`;
    if (key) {
      li.dataset.i18n = key;
      if (vars) li._i18nVars = vars;
      li.textContent = t(key, vars);
    } else {
      li.textContent = text;
    }
    appendToLog(li, true);
    return li;
  }

  function metaLine(at) {
    const meta = document.createElement("div");
    meta.className = "meta";
    if (at) {
      const time = document.createElement("time");
      time.setAttribute("datetime", at);
      time.textContent = fmtTime(at);
      meta.appendChild(time);
    }
    return meta;
  }

  /** Render a bot (direction "out") message. Returns the <li>, or null when it was a duplicate. */
  function renderBot(msg, opts = {}) {
    const id = msg && msg.id != null ? String(msg.id) : null;
    if (id && state.seen.has(id)) return null;
    if (id) state.seen.add(id);

    const li = document.createElement("li");
    li.className = "msg out";
    if (id) li.dataset.id = id;

    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.dataset.i18n = "bot";
    who.textContent = t("bot") + ": ";
    li.appendChild(who);

    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = msg.text == null ? "" : String(msg.text);
    li.appendChild(bubble);
    li.appendChild(metaLine(msg.at));

    // Choices live under the last bot message only.
    clearChoices();
    state.lastBot = li;
    const choices = normChoices(msg.choices);
    if (choices.length && !opts.noChoices) renderChoices(li, choices);

    appendToLog(li, false);
    return li;
  }

  function clearChoices() {
    if (state.lastBot) {
      const old = state.lastBot.querySelector(".choices");
      if (old) {
        if (old.contains(document.activeElement)) els.input.focus({ preventScroll: true });
        old.remove();
      }
    }
  }

  function disableChoices(chosen) {
    if (!state.lastBot) return;
    state.lastBot.querySelectorAll(".choice").forEach((b) => {
      b.disabled = true;
      if (b === chosen) {
        b.classList.add("chosen");
        b.setAttribute("aria-pressed", "true");
      }
    });
  }

  function renderChoices(li, choices) {
    const box = document.createElement("div");
    box.className = "choices";
    box.setAttribute("role", "group");
    for (const [value, label] of choices) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "choice";
      b.dataset.value = value;
      b.textContent = label;
      b.addEventListener("click", () => {
        if (b.disabled) return;
        disableChoices(b);
        enqueueText(label);
        els.input.focus({ preventScroll: true });
      });
      box.appendChild(b);
    }
    li.appendChild(box);
  }

  /** Render a citizen (direction "in") message. */
  function renderUser(text, opts = {}) {
    const id = opts.id != null ? String(opts.id) : null;
    if (id && state.seen.has(id)) return null;
    if (id) state.seen.add(id);

    const m = LANG_CMD.exec(text || "");
    if (m && !opts.file) {
      // "/lang en" is a command, show it as a discreet note rather than a bubble.
      const li = document.createElement("li");
      li.className = "note";
      const target = m[1].toLowerCase();
      li.textContent = STRINGS[target].langSwitched;
      li.setAttribute("lang", STRINGS[target].htmlLang);
      if (id) li.dataset.id = id;
      appendToLog(li, true);
      return li;
    }

    const li = document.createElement("li");
    li.className = "msg in";
    if (id) li.dataset.id = id;

    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.dataset.i18n = "you";
    who.textContent = t("you") + ": ";
    li.appendChild(who);

    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (opts.file) {
      bubble.classList.add("file");
      bubble.appendChild(fileIcon());
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.dataset.i18n = "attachment";
      label.textContent = t("attachment");
      bubble.appendChild(label);
      const name = document.createElement("span");
      name.className = "file-name";
      name.textContent = opts.file.name;
      bubble.appendChild(name);
      const size = document.createElement("span");
      size.className = "file-size";
      size.textContent = fmtSize(opts.file.size);
      bubble.appendChild(size);
    } else {
      bubble.textContent = text == null ? "" : String(text);
    }
    li.appendChild(bubble);
    li.appendChild(metaLine(opts.at));

    appendToLog(li, true);
    return li;
  }

  function fileIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "file-icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const p = document.createElementNS(ns, "path");
    p.setAttribute("d", "M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5");
    p.setAttribute("fill", "none");
    p.setAttribute("stroke", "currentColor");
    p.setAttribute("stroke-width", "1.8");
    p.setAttribute("stroke-linejoin", "round");
    svg.appendChild(p);
    return svg;
  }

  function setMark(li, kind) {
    if (!li) return;
    const meta = li.querySelector(".meta") || li.appendChild(metaLine(null));
    const old = meta.querySelector(".mark");
    if (old) old.remove();
    li.classList.toggle("pending", kind === "sending" || kind === "uploading" || kind === "retrying");
    li.classList.toggle("failed", kind === "failed");
    if (!kind) return;
    let mark;
    if (kind === "retrying") {
      mark = i18nSpan("button", "retryNow", "mark retrying");
      mark.type = "button";
      mark.addEventListener("click", () => { if (state.wake) state.wake(); });
    } else {
      mark = i18nSpan("span", kind, `mark ${kind}`);
    }
    meta.appendChild(mark);
  }

  function renderReplies(data) {
    const replies = data && Array.isArray(data.replies) ? data.replies : [];
    for (const r of replies) renderBot(r);
  }

  // ---------------------------------------------------------------- outgoing queue

  function saveOutbox() {
    const texts = state.queue.filter((j) => j.kind === "text").map((j) => ({ client_id: j.clientId, text: j.text }));
    storage.set(STORE.outbox, texts.length ? JSON.stringify(texts) : null);
  }

  function enqueueText(text, clientId) {
    if (!text || !text.trim()) return;
    // A new message from the citizen supersedes the offered choices.
    disableChoices(null);
    const job = { kind: "text", clientId: clientId || uuid(), text };
    job.li = renderUser(text, { id: job.clientId });
    setMark(job.li, "sending");
    state.queue.push(job);
    saveOutbox();
    pump();
  }

  function enqueueFile(file) {
    if (file.size > MAX_FILE_BYTES) {
      addNote(null, "error", "fileTooBig", { name: file.name, size: fmtSize(file.size) });
      return;
    }
    if (file.size === 0) {
      addNote(null, "error", "fileEmpty", { name: file.name });
      return;
    }
    disableChoices(null);
    const job = { kind: "file", clientId: uuid(), file };
    job.li = renderUser(file.name, { id: job.clientId, file });
    setMark(job.li, "uploading");
    state.queue.push(job);
    pump();
  }

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function postJob(job) {
    const ctrl = typeof AbortController === "function" ? new AbortController() : null;
    const timer = ctrl ? setTimeout(() => ctrl.abort(), job.kind === "file" ? UPLOAD_TIMEOUT_MS : SEND_TIMEOUT_MS) : null;
    let res;
    try {
      if (job.kind === "file") {
        const fd = new FormData();
        fd.append("client_id", job.clientId);
        fd.append("file", job.file, job.file.name);
        res = await fetch(API.attachments, {
          method: "POST", body: fd, credentials: "same-origin",
          headers: { Accept: "application/json" }, signal: ctrl && ctrl.signal,
        });
      } else {
        res = await fetch(API.messages, {
          method: "POST",
          body: JSON.stringify({ client_id: job.clientId, text: job.text }),
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          signal: ctrl && ctrl.signal,
        });
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (res.ok) return data || {};
    if (res.status >= 400 && res.status < 500) {
      const msg = data && typeof data.error === "string" && data.error ? data.error : null;
      throw new HttpError(res.status, msg);
    }
    throw new Error(`HTTP ${res.status}`); // 5xx: retryable
  }

  async function pump() {
    if (state.busy) return;
    state.busy = true;
    try {
      while (state.queue.length) {
        const job = state.queue[0];
        let delay = 1000;
        for (;;) {
          try {
            const data = await postJob(job);
            setMark(job.li, null);
            renderReplies(data);
            break;
          } catch (err) {
            if (err instanceof HttpError) {
              setMark(job.li, "failed");
              if (err.message) addNote(err.message, "error");
              else addNote(null, "error", "requestFailed", { status: err.status });
              if (job.kind === "text" && !LANG_CMD.test(job.text) && !els.input.value.trim()) {
                els.input.value = job.text;
                autoGrow();
                saveDraft();
                addNote(null, null, "restored");
              }
              break;
            }
            // network error, timeout or 5xx: retry the SAME client_id with backoff
            setMark(job.li, "retrying");
            await new Promise((resolve) => {
              const timer = setTimeout(done, delay);
              function done() { clearTimeout(timer); state.wake = null; resolve(); }
              state.wake = done;
            });
            delay = Math.min(delay * 2, BACKOFF_MAX_MS);
            setMark(job.li, job.kind === "file" ? "uploading" : "sending");
          }
        }
        state.queue.shift();
        saveOutbox();
      }
    } finally {
      state.busy = false;
    }
  }

  // ---------------------------------------------------------------- composer

  function autoGrow() {
    const ta = els.input;
    ta.style.height = "auto";
    const cs = window.getComputedStyle(ta);
    const line = parseFloat(cs.lineHeight) || 24;
    const pad = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom);
    const border = parseFloat(cs.borderTopWidth) + parseFloat(cs.borderBottomWidth);
    const max = line * MAX_INPUT_LINES + pad + border;
    const h = Math.min(ta.scrollHeight + border, max);
    ta.style.height = `${Math.ceil(h)}px`;
    ta.style.overflowY = ta.scrollHeight + border > max ? "auto" : "hidden";
    updateSendState();
  }

  function updateSendState() {
    els.send.setAttribute("aria-disabled", els.input.value.trim() ? "false" : "true");
  }

  let draftTimer = null;
  function saveDraft() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => storage.set(STORE.draft, els.input.value), 250);
  }

  function submit() {
    const text = els.input.value;
    if (!text.trim()) {
      els.input.focus();
      return;
    }
    els.input.value = "";
    storage.set(STORE.draft, null);
    autoGrow();
    enqueueText(text.replace(/\s+$/, ""));
    els.input.focus();
  }

  // ---------------------------------------------------------------- connection state / SSE

  function setConn(s) {
    els.conn.dataset.state = s;
    els.connText.dataset.i18n = s === "online" ? "connOnline" : s === "offline" ? "connOffline" : "connConnecting";
    els.connText.textContent = t(els.connText.dataset.i18n);
    if (s === "online") {
      clearTimeout(state.bannerTimer);
      state.bannerTimer = null;
      els.banner.hidden = true;
    } else if (s === "offline" && els.banner.hidden && !state.bannerTimer) {
      // Short blips (normal EventSource reconnects) do not flash the banner.
      state.bannerTimer = setTimeout(() => {
        state.bannerTimer = null;
        if (els.conn.dataset.state !== "online") els.banner.hidden = false;
      }, BANNER_DELAY_MS);
    }
  }

  function handlePush(ev) {
    let data;
    try { data = JSON.parse(ev.data); } catch (_) { return; }
    if (!data || typeof data !== "object") return;
    if (data.id == null && ev.lastEventId) data.id = ev.lastEventId;
    if (data.direction === "in") renderUser(data.text, { id: data.id, at: data.at });
    else renderBot(data);
  }

  function openStream() {
    if (typeof window.EventSource !== "function") return;
    if (state.es) state.es.close();
    const es = new EventSource(API.events, { withCredentials: false });
    state.es = es;
    es.addEventListener("open", () => {
      const wasManual = state.esRetry > 0;
      state.esRetry = 0;
      setConn("online");
      // After a manual re-open the Last-Event-ID is lost: catch up from history.
      if (wasManual) loadHistory(true);
    });
    es.addEventListener("message", handlePush);
    es.addEventListener("error", () => {
      if (es !== state.es) return;
      setConn("offline");
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (non-200 or wrong content type): reconnect ourselves.
        es.close();
        state.esRetry += 1;
        const delay = Math.min(1000 * 2 ** (state.esRetry - 1), BACKOFF_MAX_MS);
        setTimeout(() => { if (state.es === es) openStream(); }, delay);
      }
    });
  }

  // ---------------------------------------------------------------- history

  async function loadHistory(catchUp) {
    let delay = 1000;
    let note = null;
    for (;;) {
      try {
        const res = await fetch(API.history, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const data = await res.json();
        if (note) note.remove();
        return catchUp ? mergeHistory(data) : renderHistory(data);
      } catch (_) {
        if (catchUp) return null;
        setConn("offline");
        if (!note) note = addNote(null, null, "historyFailed");
        await sleep(delay);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      }
    }
  }

  function renderHistory(data) {
    const msgs = data && Array.isArray(data.messages) ? data.messages : [];
    const frag = msgs.slice();
    // Only the last message (if it is the bot's) keeps its choices.
    frag.forEach((m, i) => {
      if (m.direction === "in") renderUser(m.text, { id: m.id, at: m.at });
      else renderBot(m, { noChoices: i !== frag.length - 1 });
    });
    els.empty.hidden = els.log.children.length > 0;
    return data;
  }

  function mergeHistory(data) {
    const msgs = data && Array.isArray(data.messages) ? data.messages : [];
    const fresh = msgs.filter((m) => m.direction !== "in" && m.id != null && !state.seen.has(String(m.id)));
    fresh.forEach((m) => renderBot(m));
    return data;
  }

  // ---------------------------------------------------------------- boot

  async function boot() {
    const stored = storage.get(STORE.lang);
    state.lang = stored === "en" || stored === "zh" ? stored : "zh";
    applyLang();

    const draft = storage.get(STORE.draft);
    if (draft) els.input.value = draft;
    autoGrow();

    // wiring
    els.form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    els.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        // Enter sends on keyboards with a physical Enter; Shift+Enter inserts a newline.
        e.preventDefault();
        submit();
      }
    });
    els.input.addEventListener("input", () => { autoGrow(); saveDraft(); });
    els.langToggle.addEventListener("click", toggleLang);
    $("size-toggle").addEventListener("click", toggleSize);
    els.attach.addEventListener("click", () => els.file.click());
    els.file.addEventListener("change", () => {
      const files = Array.from(els.file.files || []);
      els.file.value = "";
      files.forEach(enqueueFile);
      els.attach.focus();
    });
    els.jump.addEventListener("click", () => { scrollToBottom(); els.input.focus({ preventScroll: true }); });
    els.logWrap.addEventListener("scroll", () => {
      state.pinned = isNearBottom();
      if (state.pinned) els.jump.hidden = true;
    }, { passive: true });
    // Content or viewport size changes (marks, choices, fonts, on-screen keyboard) keep a pinned view at the bottom.
    const repin = () => { if (state.pinned) scrollToBottom(); };
    if (typeof ResizeObserver === "function") {
      const ro = new ResizeObserver(repin);
      ro.observe(els.log);
      ro.observe(els.logWrap);
    }
    window.addEventListener("resize", repin);
    if (window.visualViewport) window.visualViewport.addEventListener("resize", repin);
    window.addEventListener("online", () => { if (state.wake) state.wake(); });
    window.addEventListener("pagehide", () => storage.set(STORE.draft, els.input.value));

    const history = await loadHistory(false);
    state.historyLoaded = true;
    scrollToBottom();

    // If no explicit choice was ever made, follow the server's language.
    const serverLang = history && (history.lang === "en" || history.lang === "zh") ? history.lang : null;
    if (!stored && serverLang && serverLang !== state.lang) {
      state.lang = serverLang;
      applyLang();
    }

    // Resume messages that were typed but not confirmed before the page was closed (same client_id).
    let outbox = [];
    try { outbox = JSON.parse(storage.get(STORE.outbox) || "[]"); } catch (_) { outbox = []; }
    storage.set(STORE.outbox, null);
    if (Array.isArray(outbox)) {
      for (const o of outbox) {
        if (o && typeof o.text === "string" && typeof o.client_id === "string") enqueueText(o.text, o.client_id);
      }
    }

    // Keep the server's language in step with a remembered choice.
    const langQueued = state.queue.some((j) => j.kind === "text" && LANG_CMD.test(j.text));
    if (stored && serverLang && serverLang !== stored && !langQueued) enqueueText(`/lang ${stored}`);

    openStream();
    if (window.matchMedia && window.matchMedia("(pointer: fine)").matches) els.input.focus({ preventScroll: true });
    scrollToBottom();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
