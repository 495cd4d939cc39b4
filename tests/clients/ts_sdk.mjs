// The official TypeScript SDK (@anthropic-ai/sdk, pinned in package.json) against Steward.
// Run by tests/clients/test_typescript_sdk.py with STEWARD_URL, STEWARD_KEY and MODEL set; prints one JSON
// object per operation so the test can check each against the gateway's usage records and audit events.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.env.STEWARD_URL, apiKey: process.env.STEWARD_KEY, maxRetries: 0 });
const model = process.env.MODEL;
const out = (op, fields) => console.log(JSON.stringify({ op, ...fields }));

const create = await client.messages.create({
  model, max_tokens: 64, messages: [{ role: "user", content: "Say hello." }],
  metadata: { user_id: "ts-user" },
}).withResponse();
out("create", { request_id: create.request_id, usage: create.data.usage, text: create.data.content[0].text });

const stream = client.messages.stream({ model, max_tokens: 64, messages: [{ role: "user", content: "Count to five." }] });
let deltas = 0;
stream.on("text", () => { deltas += 1; });
const streamed = await stream.finalMessage();
out("stream", { request_id: stream.request_id, usage: streamed.usage, deltas, stop_reason: streamed.stop_reason });

const tools = [{
  name: "get_weather", description: "Weather for a city.",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
}];
const asked = { role: "user", content: "What is the weather in Paris?" };
const first = await client.messages.create({
  model, max_tokens: 128, tools, tool_choice: { type: "tool", name: "get_weather" }, messages: [asked],
}).withResponse();
const use = first.data.content.find((block) => block.type === "tool_use");
const second = await client.messages.create({
  model, max_tokens: 128, tools, messages: [
    asked, { role: "assistant", content: first.data.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "18 C and sunny" }] },
  ],
}).withResponse();
out("tool_use", { request_ids: [first.request_id, second.request_id], tool: use.name,
                  stop_reasons: [first.data.stop_reason, second.data.stop_reason] });

const counted = await client.messages.countTokens({ model, messages: [{ role: "user", content: "How many tokens?" }] })
  .withResponse();
out("count_tokens", { request_id: counted.request_id, input_tokens: counted.data.input_tokens });

const batch = await client.messages.batches.create({ requests: [
  { custom_id: "a", params: { model, max_tokens: 32, messages: [{ role: "user", content: "One." }] } },
  { custom_id: "b", params: { model, max_tokens: 32, messages: [{ role: "user", content: "Two." }] } },
] });
let state = batch;
for (let i = 0; i < 200 && state.processing_status !== "ended"; i += 1) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  state = await client.messages.batches.retrieve(batch.id);
}
const results = [];
for await (const item of await client.messages.batches.results(batch.id)) {
  results.push({ custom_id: item.custom_id, type: item.result.type, usage: item.result.message?.usage });
}
out("batch", { id: batch.id, status: state.processing_status, counts: state.request_counts, results });

const models = [];
for await (const info of client.models.list()) models.push(info.id);
out("models", { ids: models });
