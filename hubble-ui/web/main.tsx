// The page's entry: Mantine's theme and styles around the app (bundled by hack/build.ts into
// build/hubble-ui/web/app.js and app.css; nothing is fetched at run time).
import '@mantine/core/styles.css';
import { MantineProvider } from '@mantine/core';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.js';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider defaultColorScheme="light">
      <App />
    </MantineProvider>
  </StrictMode>,
);
