const API_KEY = process.env.API_KEY;
const BASE = "https://seedance2-ai.ai/api/v1";
const headers = {
"Authorization": `Bearer ${API_KEY}`,
"Content-Type": "application/json",
};
// Check credits first
async function checkCredits() {
const res = await fetch(`${BASE}/account/credits`, { headers });
return res.json();
}
// Create a task (any mode)
async function createTask(inputs, callBackUrl) {
const res = await fetch(`${BASE}/jobs/createTask`, {
method: "POST",
headers,
body: JSON.stringify({
model: "seedance2",
inputs,
...(callBackUrl && { callBackUrl }),
}),
});
if (!res.ok) {
const err = await res.json();
throw new Error(`[${res.status}] ${err.message}`);
}
return res.json();
}
// Poll until done (timeout: 5 min)
async function waitForResult(taskId, timeoutMs = 300000) {
const start = Date.now();
while (Date.now() - start < timeoutMs) {
const res = await fetch(
`${BASE}/jobs/queryTask?taskId=${taskId}`,
{ headers }
);
const result = await res.json();
if (result.status === "COMPLETED") return result;
if (result.status === "FAILED") throw new Error(result.error);
await new Promise((r) => setTimeout(r, 5000));
}
throw new Error("Timeout waiting for task");
}
// Example: Image to Video
async function main() {
const { availableCredits } = await checkCredits();
console.log(`Credits: ${availableCredits}`);
const { taskId } = await createTask({
urls: ["https://example.com/photo.jpg"],
prompt: "The person slowly looks up and smiles",
duration: "5s",
});
console.log(`Task: ${taskId}`);
const result = await waitForResult(taskId);
console.log(`Video: ${result.output[0].url}`);
}
main().catch(console.error);
