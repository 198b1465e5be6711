// The browser chat page: joins a room over Connect (or gRPC-Web with ?protocol=grpc-web), shows
// the room's history and live messages, and sends. Streams that break (network, server restart,
// falling behind) are resumed after the last sequence shown, so nothing is missed or repeated.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { chatV1 } from "@polyrpc/proto";

const params = new URLSearchParams(location.search);
const transport: Transport =
  params.get("protocol") === "grpc-web"
    ? createGrpcWebTransport({ baseUrl: location.origin })
    : createConnectTransport({ baseUrl: location.origin });
const chat = createClient(chatV1.ChatService, transport);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const joinForm = $<HTMLFormElement>("join-form");
const sendForm = $<HTMLFormElement>("send-form");
const roomInput = $<HTMLInputElement>("room");
const userInput = $<HTMLInputElement>("user");
const textInput = $<HTMLInputElement>("text");
const sendButton = $<HTMLButtonElement>("send");
const statusLine = $<HTMLParagraphElement>("status");
const list = $<HTMLOListElement>("messages");

roomInput.value = params.get("room") ?? roomInput.value;
userInput.value = params.get("user") ?? "";

let session: AbortController | undefined;
let lastSequence = 0n;
let me = "";

function show(status: string) {
  statusLine.textContent = status;
}

function append(item: HTMLLIElement) {
  list.append(item);
  item.scrollIntoView({ block: "end" });
}

function showMessage(message: chatV1.ChatMessage) {
  // Exactly once: a resumed stream starts after lastSequence, so a repeat can only be a bug.
  if (message.sequence <= lastSequence) return;
  lastSequence = message.sequence;
  const item = document.createElement("li");
  item.dataset.sequence = String(message.sequence);
  item.className = message.sender === me ? "message mine" : "message";
  const meta = document.createElement("span");
  meta.className = "meta";
  const sentAt = message.sentAt ? timestampDate(message.sentAt).toLocaleTimeString() : "";
  meta.textContent = `#${message.sequence} ${sentAt}`;
  const sender = document.createElement("span");
  sender.className = "sender";
  sender.textContent = `${message.sender}: `;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.text;
  item.append(meta, sender, text);
  append(item);
}

function showPresence(event: chatV1.PresenceEvent) {
  const item = document.createElement("li");
  item.className = "presence";
  const verb = event.kind === chatV1.PresenceKind.JOINED ? "joined" : "left";
  item.textContent = `${event.userId} ${verb}`;
  append(item);
}

async function follow(room: string, signal: AbortSignal) {
  let backoffMs = 250;
  while (!signal.aborted) {
    try {
      for await (const res of chat.subscribe({ room, userId: me, afterSequence: lastSequence }, { signal })) {
        backoffMs = 250;
        show(`In room ${room} as ${me}.`);
        if (res.event.case === "message") showMessage(res.event.value);
        else if (res.event.case === "presence") showPresence(res.event.value);
      }
    } catch (err) {
      if (signal.aborted) return;
      const error = ConnectError.from(err);
      if (error.code === Code.InvalidArgument || error.code === Code.NotFound) {
        show(`Cannot join: ${error.rawMessage}`);
        return;
      }
      show(`Reconnecting after ${error.rawMessage}…`);
    }
    await new Promise((resolve) => setTimeout(resolve, backoffMs + Math.random() * backoffMs));
    backoffMs = Math.min(backoffMs * 2, 5000);
  }
}

joinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  session?.abort();
  session = new AbortController();
  list.replaceChildren();
  lastSequence = 0n;
  me = userInput.value.trim();
  const room = roomInput.value.trim();
  show(`Joining ${room}…`);
  try {
    const history = await chat.getHistory({ room, limit: 50 }, { signal: session.signal });
    // Follow on from the last message shown (not history.lastSequence, which may already count a
    // message sent after the history was read: the subscription replays it).
    history.messages.forEach(showMessage);
  } catch (err) {
    show(`Cannot join: ${ConnectError.from(err).rawMessage}`);
    return;
  }
  textInput.disabled = sendButton.disabled = false;
  void follow(room, session.signal);
});

sendForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = textInput.value;
  if (text.trim() === "") return;
  sendButton.disabled = true;
  try {
    await chat.sendMessage({ room: roomInput.value.trim(), userId: me, text });
    textInput.value = "";
  } catch (err) {
    show(`Not sent: ${ConnectError.from(err).rawMessage}`);
  } finally {
    sendButton.disabled = false;
    textInput.focus();
  }
});

if (userInput.value !== "") joinForm.requestSubmit();
