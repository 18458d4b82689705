/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON that is safe inside `<script type="application/json">`: `<`, `>` and `&` are
 * written as \u escapes, so a value such as `</script><img onerror=…>` can neither end
 * the element nor be parsed as markup; U+2028/2029 are escaped for old parsers.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The dashboard's HTML: a skeleton, the state as JSON data (never executed), and the
 * one script, from /assets (the Content-Security-Policy allows no inline script). The
 * script renders every value with textContent.
 */
export function renderDashboard({ instance, state }: { instance: string; state: unknown }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>holdfast · ServiceNow waiting work</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/assets/dashboard.css">
<script type="application/json" id="initial-state">${scriptJson(state)}</script>
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>Waiting work</h1>
  <p class="meta">instance <a id="instance" href="${escapeHtml(instance)}" rel="noreferrer">${escapeHtml(instance)}</a> · <span id="replica"></span> · store <span id="store"></span> · <span id="live" class="live">connecting…</span></p>
</header>
<div id="banner" class="banner" role="alert" hidden></div>
<div id="store-banner" class="banner store" role="alert" hidden></div>
<main>
  <section id="sync" aria-labelledby="sync-title">
    <h2 id="sync-title">Sync</h2>
    <div id="warm" class="warm"></div>
    <table id="sync-table"><thead><tr><th>table</th><th>records</th><th>last success</th><th>lag</th><th>state</th><th>progress</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="upstream" aria-labelledby="upstream-title">
    <h2 id="upstream-title">Upstream connection</h2>
    <div class="charts">
      <figure><figcaption>requests/s</figcaption><svg id="chart-rps" viewBox="0 0 300 60" preserveAspectRatio="none"></svg><span class="now" id="now-rps"></span></figure>
      <figure><figcaption>p99 latency, rate-limit wait included (ms)</figcaption><svg id="chart-p99" viewBox="0 0 300 60" preserveAspectRatio="none"></svg><span class="now" id="now-p99"></span></figure>
      <figure><figcaption>retries and replays absorbed</figcaption><svg id="chart-absorbed" viewBox="0 0 300 60" preserveAspectRatio="none"></svg><span class="now" id="now-absorbed"></span></figure>
      <figure><figcaption>circuit breaker</figcaption><svg id="chart-breaker" viewBox="0 0 300 60" preserveAspectRatio="none"></svg><span class="now" id="now-breaker"></span></figure>
    </div>
  </section>
  <section id="groups" aria-labelledby="groups-title">
    <h2 id="groups-title">Per assignment group</h2>
    <table id="group-table"><thead></thead><tbody></tbody><tfoot></tfoot></table>
  </section>
  <section id="drill" aria-live="polite" hidden>
    <h2 id="drill-title"></h2>
    <table id="drill-table"><thead><tr><th>number</th><th>short description</th><th>waiting as</th><th>age</th></tr></thead><tbody></tbody></table>
  </section>
</main>
</body>
</html>
`;
}
