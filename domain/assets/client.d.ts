// Types of the Portcullis browser client, served at <base>/client.d.ts beside
// <base>/client.js (classic script: `window.Portcullis`) and <base>/client.mjs (ES module).
// The API is NextAuth v3's `next-auth/client` (spec §14) plus `onSessionChange`/`configure`.

/** The session as `GET <base>/session` answers it (spec §6.5), plus what callbacks add. */
export interface Session {
  user?: {
    name?: string | null;
    email?: string | null;
    image?: string | null;
    [claim: string]: unknown;
  };
  /** ISO 8601 expiry. */
  expires: string;
  [key: string]: unknown;
}

/** Why the session is read (spec §14.5); other strings act like "timer". */
export type SessionEvent = "storage" | "visibilitychange" | "timer" | (string & {});

export interface GetSessionOptions {
  /** Decides between the cache and a fetch, as v3's client does. No event: the cache rules. */
  event?: SessionEvent | null;
  /** Always fetch (and tell the other tabs), like v3's exported `getSession()`. */
  force?: boolean;
}

/** One entry of `GET <base>/providers` (spec §1.4.1). */
export interface ClientProvider {
  id: string;
  name: string;
  type: "oauth" | "email" | "credentials" | (string & {});
  signinUrl: string;
  callbackUrl: string;
}

export type ClientProviders = Record<string, ClientProvider>;

export interface SignInOptions {
  /** Where to land afterwards; default: the current page. */
  callbackUrl?: string;
  /** false: credentials and e-mail providers answer instead of navigating. */
  redirect?: boolean;
  /** Any other field is posted as is (`username`, `password`, `email`, …). */
  [field: string]: string | number | boolean | undefined;
}

/** What `signIn(…, {redirect: false})` answers for credentials and e-mail providers. */
export interface SignInResult {
  /** An error code such as "CredentialsSignin", or null. */
  error: string | null;
  status: number;
  ok: boolean;
  /** Where the server would have sent the browser; null on error. */
  url: string | null;
}

export interface SignOutOptions {
  callbackUrl?: string;
  redirect?: boolean;
}

export interface ClientOptions {
  /** Default: the folder the script was served from, else "/api/auth". */
  basePath?: string;
  /** Seconds between session reads while signed in (slides the cookie); 0: off. */
  keepAlive?: number;
  /** Seconds a read session is served from the cache; 0: until an event refreshes it. */
  clientMaxAge?: number;
}

export type SessionListener = (session: Session | null, event: SessionEvent | null) => void;

export function getSession(options?: GetSessionOptions): Promise<Session | null>;
export function getCsrfToken(): Promise<string | undefined>;
export function getProviders(): Promise<ClientProviders | null>;
/**
 * Credentials/e-mail with `redirect: false` resolve to a {@link SignInResult}; every other
 * call navigates away and resolves to undefined.
 */
export function signIn(
  provider: string,
  options: SignInOptions & { redirect: false },
  authorizationParams?: Record<string, string>,
): Promise<SignInResult | undefined>;
export function signIn(
  provider?: string,
  options?: SignInOptions,
  authorizationParams?: Record<string, string>,
): Promise<undefined>;
export function signOut(options: SignOutOptions & { redirect: false }): Promise<{ url: string }>;
export function signOut(options?: SignOutOptions): Promise<undefined>;
/** Returns the function that unsubscribes `listener`. */
export function onSessionChange(listener: SessionListener): () => void;
export function configure(options: ClientOptions): void;

export interface PortcullisClient {
  getSession: typeof getSession;
  getCsrfToken: typeof getCsrfToken;
  getProviders: typeof getProviders;
  signIn: typeof signIn;
  signOut: typeof signOut;
  onSessionChange: typeof onSessionChange;
  configure: typeof configure;
  /** A copy of the current settings. */
  readonly options: Required<ClientOptions>;
}

declare const Portcullis: PortcullisClient;
export default Portcullis;

declare global {
  interface Window {
    /** Set by <base>/client.js. */
    Portcullis: PortcullisClient;
  }
}
