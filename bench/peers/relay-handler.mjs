// The undici dispatch handler of the bare Node proxies (bare-node-proxy.mjs for HTTP/1.1,
// bare-node-h2-proxy.mjs for HTTP/2): the response streams back to `res` with backpressure,
// its head written by `writeHead(status, controller.rawHeaders)`; a failure is a 502.
export function relayTo(res, writeHead) {
  return {
    onRequestStart() {},
    onResponseStart(controller, status) {
      writeHead(status, controller.rawHeaders);
    },
    onResponseData(controller, chunk) {
      if (res.write(chunk)) return;
      controller.pause();
      res.once('drain', () => controller.resume());
    },
    onResponseEnd() { res.end(); },
    onResponseError() {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    },
  };
}
