// A tiny client-side router: the server (CloudFront) answers every path with index.html,
// and this script decides what to show for the path in the address bar.
const routes = {
  "/": () => "Welcome. This page came from S3 through CloudFront.",
  "/about": () => "About: a client-rendered site served by Kumo.",
};
function render() {
  const path = location.pathname;
  const order = path.match(/^\/orders\/(\d+)$/);
  const view = routes[path] || (order ? () => "Order #" + order[1] + " (a deep link the SPA handles)" : () => "Not found: " + path);
  document.getElementById("app").textContent = view();
}
document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (a && a.origin === location.origin) { e.preventDefault(); history.pushState({}, "", a.pathname); render(); }
});
window.addEventListener("popstate", render);
render();
