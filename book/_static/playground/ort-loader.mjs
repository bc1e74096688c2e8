// onnxruntime-web for the playground: the copy `make book` put beside this file (npm, package-lock.json), else the
// same pinned version from a public CDN, checked by its subresource-integrity hash (of dist/ort.wasm.min.js in the
// npm tarball; tests/test_playground_page.py checks both against node_modules).

export const ORT_VERSION = "1.30.0";
export const ORT_INTEGRITY = "sha384-Bw6URI+Gvoadw0do7/QrSHUC9D1vCYYK5OSqChFyhyV5mzPL4oe2rOAFljAnS8Sq";
export const CDN_BASE = `https://cdn.jsdelivr.net/npm/onnxruntime-web@${ORT_VERSION}/dist/`;
const LOCAL_BASE = new URL("./ort/", import.meta.url).href;

function addScript(src, integrity) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    if (integrity) {
      script.integrity = integrity;
      script.crossOrigin = "anonymous";
    }
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.appendChild(script);
  });
}

async function localCopyExists() {
  try {
    return (await fetch(LOCAL_BASE + "ort.wasm.min.js", { method: "HEAD" })).ok;
  } catch {
    return false;
  }
}

let loading = null;

/** The global `ort` (onnxruntime-web's wasm build), loaded once; its wasm files come from the same place. */
export function loadOrt() {
  loading ??= (async () => {
    const base = (await localCopyExists()) ? LOCAL_BASE : CDN_BASE;
    await addScript(base + "ort.wasm.min.js", base === CDN_BASE ? ORT_INTEGRITY : null);
    const ort = globalThis.ort;
    ort.env.wasm.wasmPaths = base;
    // threads need a cross-origin-isolated page (COOP/COEP headers), which a static book host rarely sends
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    return ort;
  })();
  return loading;
}
