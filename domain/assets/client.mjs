/*
 * Portcullis browser client as an ES module:
 *
 *   import { getSession, signIn, signOut, onSessionChange } from "/api/auth/client.mjs";
 *
 * client.js defines the client (once per page, on globalThis.Portcullis); this entry
 * gives it named exports and takes the base path from the folder it was served from.
 */
import "./client.js";

const client = globalThis.Portcullis;
client._useScriptUrl(import.meta.url);

export const {
  getSession,
  getCsrfToken,
  getProviders,
  signIn,
  signOut,
  onSessionChange,
  configure,
} = client;
export default client;
