// The peer users would otherwise pick: a minimal Probot app that verifies the signature (Probot's own
// @octokit/webhooks middleware) and routes `issues` events to a handler that does nothing remote.
// Run from benchmarks/.peer (where `npm install probot` put node_modules): PORT and WEBHOOK_SECRET.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import { createNodeMiddleware, createProbot } from "probot";

const { privateKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});
let handled = 0;
const appFn = (app) => {
  app.on("issues", async (context) => {
    handled += context.payload.issue ? 1 : 0;
  });
};
const probot = createProbot({
  overrides: { appId: 1, privateKey, secret: process.env.WEBHOOK_SECRET, webhookPath: "/webhooks/github" },
});
const middleware = await createNodeMiddleware(appFn, { probot, webhooksPath: "/webhooks/github" });
createServer((req, res) => {
  middleware(req, res, () => res.writeHead(404).end());
}).listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => {
  console.log(`handled ${handled} issues events`);
  process.exit(0);
});
