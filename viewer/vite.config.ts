import { defineConfig } from 'vite';

// The bundle is served by the twin at "/": everything comes from npm, nothing from a CDN.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a running `twin serve` on :8000
    proxy: {
      '/api': 'http://127.0.0.1:8000',
      '/tiles': 'http://127.0.0.1:8000',
      '/collections': 'http://127.0.0.1:8000',
    },
  },
});
