// A job page that is still running follows its steps: the server sends the steps'
// table again (server-sent events) whenever it changes, and "done" when the job ends.
for (const live of document.querySelectorAll("[data-live]")) {
  const events = new EventSource(live.dataset.live);
  events.addEventListener("steps", (e) => { live.innerHTML = e.data; });
  events.addEventListener("done", () => events.close());
}
