/**
 * Issue 17, item 4: the demo as a person uses it, in a real browser. Headless Chromium (Debian's
 * package, /usr/bin/chromium; CHROMIUM_PATH to point elsewhere; `.ci/run` installs it when absent)
 * driven by puppeteer-core: an admin logs in and sees the id change, regenerates it, opens the admin
 * page and finds its own session there; a second browser logs in with a 5-second lifetime, and the
 * admin page's live feed shows it created and then closed with reason "expired", as it happens.
 * The admin page is kept as a screenshot in var/test-artifacts/demo-admin.png.
 *
 * Bounded for a loaded two-core machine: every wait has its own timeout, the browser is killed on
 * teardown, and the whole test has 150 s.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'

/** The page's document, as the functions passed to waitForFunction see it in the browser. */
declare const document: { getElementById(id: string): { textContent: string | null } | null }

const ROOT = join(__dirname, '..')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(ROOT, 'var', 'test-artifacts')
const WAIT = { timeout: 30_000 }

async function startDemo(t: import('ava').ExecutionContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sk-demo-browser-'))
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'server.ts')], {
    cwd: ROOT, env: { ...process.env, PORT: '0', SESSION_FILE: join(dir, 'sessions.skdb'), NODE_ENV: 'test' }, stdio: ['ignore', 'pipe', 'ignore'],
  })
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    rmSync(dir, { recursive: true, force: true })
  })
  let output = ''
  for await (const chunk of child.stdout) {
    output += String(chunk)
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(output)?.[0]
    if (url !== undefined) return url
  }
  throw new Error(`the demo printed no URL: ${output}`)
}

async function logIn(page: Page, url: string, user: string, lifetime: string): Promise<void> {
  await page.goto(`${url}/`, { waitUntil: 'domcontentloaded', ...WAIT })
  await page.type('input[name=user]', user)
  await page.select('select[name=lifetime]', lifetime)
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded', ...WAIT }), page.click('form[action="/login"] button')])
}

const feedText = (page: Page) => page.$eval('#feed', (feed) => (feed as unknown as { innerText: string }).innerText)

test('in Chromium: log in, see the id change and the session on the admin page, and the live feed shows another session expire', async (t) => {
  t.timeout(150_000)
  if (!existsSync(CHROMIUM)) {
    t.fail(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`)
    return
  }
  const url = await startDemo(t)
  const browser: Browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions'],
    protocolTimeout: 60_000,
    timeout: 60_000,
  })
  t.teardown(() => browser.process()?.kill('SIGKILL'))
  try {
    const adminContext = await browser.createBrowserContext()
    const admin = await adminContext.newPage()
    admin.setDefaultTimeout(WAIT.timeout)
    await logIn(admin, url, 'admin', 'default')
    t.regex(await admin.$eval('#id-change', (p) => (p as unknown as { innerText: string }).innerText), /changed on login: \(no session\) → [\w-]{6}…/)
    const firstId = await admin.$eval('#session-id', (code) => code.textContent)

    await Promise.all([admin.waitForNavigation({ waitUntil: 'domcontentloaded', ...WAIT }), admin.click('form[action="/regenerate"] button')])
    const change = await admin.$eval('#id-change', (p) => (p as unknown as { innerText: string }).innerText)
    const secondId = await admin.$eval('#session-id', (code) => code.textContent)
    t.not(secondId, firstId, 'regenerate gave the session a new id')
    t.true(change.includes(`${firstId} → ${secondId}`), change)

    await admin.goto(`${url}/admin`, { waitUntil: 'domcontentloaded', ...WAIT })
    await admin.waitForFunction((id) => document.getElementById('sessions')?.textContent?.includes(id as string), WAIT, secondId)
    t.regex(await admin.$eval('#sessions', (body) => (body as unknown as { innerText: string }).innerText), /admin\s+\d+ s\s+\d+ s/)
    await admin.waitForFunction(() => document.getElementById('feed')?.textContent?.includes('regenerate admin'), WAIT)

    // A second person, in a browser of their own, logs in with a 5-second idle timeout and leaves.
    const visitorContext = await browser.createBrowserContext()
    const visitor = await visitorContext.newPage()
    visitor.setDefaultTimeout(WAIT.timeout)
    await logIn(visitor, url, 'ann', '5s')
    t.regex(await visitor.$eval('h1', (h) => h.textContent ?? ''), /Hello, ann/)
    await admin.waitForFunction(() => document.getElementById('feed')?.textContent?.includes('create ann'), WAIT)
    await admin.waitForFunction(() => document.getElementById('sessions')?.textContent?.includes('ann'), WAIT)
    await admin.waitForFunction(() => /close ann \S+ reason: expired/.test(document.getElementById('feed')?.textContent ?? ''), { timeout: 40_000 })
    await admin.waitForFunction(() => !document.getElementById('sessions')?.textContent?.includes('ann'), WAIT)
    const feed = await feedText(admin)
    t.regex(feed, /close ann \S+ reason: expired/)
    await admin.waitForFunction(() => /"expired": 1/.test(document.getElementById('stats')?.textContent ?? ''), WAIT)
    t.regex(await admin.$eval('#stats', (pre) => pre.textContent ?? ''), /"live": 1/, 'stats() is refreshed live')

    mkdirSync(ARTIFACTS, { recursive: true })
    const screenshot = join(ARTIFACTS, 'demo-admin.png')
    await admin.screenshot({ path: screenshot as `${string}.png`, fullPage: true })
    t.true(existsSync(screenshot))
    t.log(`screenshot: ${screenshot}`)
  } finally {
    await browser.close().catch(() => {})
  }
})
