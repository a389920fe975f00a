/*
 * tests/console/browser.mjs — one scenario of the web console in headless
 * Chromium (Debian's), driven by puppeteer-core, against a real `rollcall
 * serve`; run by tests/test_console.c, which starts the server, makes the
 * tokens and links, and reads this script's exit status and output.
 *
 *   node browser.mjs SCENARIO     with, in the environment:
 *   CONSOLE_URL      the server, http://127.0.0.1:PORT
 *   CONSOLE_TOKENS   JSON {name: token} of the people signing in
 *   CONSOLE_LINK     a one-time sign-in link's code
 *   CONSOLE_FOREIGN  JSON [UPN...]: pupils of another organisation, never
 *                    to be shown
 *   CONSOLE_SHOTS    the directory screenshots are written to
 *   CONSOLE_UPN, CONSOLE_PROPOSAL  a pupil and a proposal to show
 *
 * Every page visited is checked for console errors (a script error, a
 * refused Content-Security-Policy, a failed asset) and, in the `axe`
 * scenario, with axe-core for WCAG 2.2 AA. A failed check prints "FAIL:
 * what" and the script exits 1; each check passed prints "ok: what".
 */
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'console', 'package.json'));
const puppeteer = require('puppeteer-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const URL = process.env.CONSOLE_URL;
const TOKENS = JSON.parse(process.env.CONSOLE_TOKENS || '{}');
const FOREIGN = JSON.parse(process.env.CONSOLE_FOREIGN || '[]');
const SHOTS = process.env.CONSOLE_SHOTS;
const TIMEOUT = 15000;

let failures = 0;
function ok(what) {
	console.log('ok: ' + what);
}
function check(cond, what) {
	if (cond)
		return ok(what);
	failures++;
	console.log('FAIL: ' + what);
}

const browser = await puppeteer.launch({
	executablePath: '/usr/bin/chromium',
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const page = await browser.newPage();
page.setDefaultTimeout(TIMEOUT);
await page.setViewport({ width: 1200, height: 900 });
const errors = [];
page.on('console', (m) => {
	if (m.type() === 'error')
		errors.push(m.text());
});
page.on('pageerror', (e) => errors.push(String(e)));
page.on('requestfailed', (r) => errors.push('request failed: ' + r.method() + ' ' + r.url() + ' (' + (r.failure() && r.failure().errorText) + ')'));
/* which request a "Failed to load resource" was */
page.on('response', (r) => {
	if (r.status() >= 400)
		errors.push(r.status() + ' ' + r.request().method() + ' ' + r.url());
});

/* Go to a page of the console and wait until it has drawn. */
async function visit(hash, name) {
	await page.evaluate(() => document.getElementById('main-content').setAttribute('data-ready', 'false')).catch(() => {});
	if (page.url().startsWith(URL))
		await page.evaluate((h) => {
			if (location.hash === h) /* the same page again: no hashchange of its own */
				window.dispatchEvent(new HashChangeEvent('hashchange'));
			else
				location.hash = h;
		}, hash);
	else
		await page.goto(URL + '/' + hash, { waitUntil: 'load' });
	await page.waitForSelector('main[data-ready="true"]');
	const drawn = await page.$eval('main', (m) => m.getAttribute('data-page'));
	check(!name || drawn === name, `${hash} draws the ${name} page (drew ${drawn})`);
	noErrors(hash);
}

/* Wait for the next draw after an action (a form posted). */
async function drawn(action) {
	await page.evaluate(() => document.getElementById('main-content').setAttribute('data-ready', 'false'));
	await action();
	await page.waitForSelector('main[data-ready="true"]');
}

function noErrors(where) {
	check(errors.length === 0, `no console error on ${where}` + (errors.length ? ': ' + errors.join(' | ') : ''));
	errors.length = 0;
}

async function text() {
	return page.$eval('main', (m) => m.innerText);
}

async function signInWithToken(token) {
	await page.goto(URL + '/', { waitUntil: 'load' });
	await page.waitForSelector('main[data-page="signin"][data-ready="true"]');
	await page.type('#token', token);
	await drawn(() => page.click('main button[type=submit]'));
	const name = await page.$eval('main', (m) => m.getAttribute('data-page'));
	check(name === 'overview', 'signing in with a token shows the overview');
	noErrors('signing in');
}

async function signOut() {
	await visit('#/signout', 'signout');
	const r = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
	check(r === 401, 'after signing out the session is gone (' + r + ')');
	errors.length = 0; /* that 401, asked for */
}

/* A screenshot of the whole page: the window made as tall as the page
 * first, and two frames let pass, so that charts redrawn for the new size
 * are in it. */
async function shot(name) {
	if (!SHOTS)
		return;
	const height = await page.evaluate(() => document.documentElement.scrollHeight);
	await page.setViewport({ width: 1200, height });
	await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
	await page.screenshot({ path: join(SHOTS, name + '.png') });
	await page.setViewport({ width: 1200, height: 900 });
}

/* The pixels each chart of the page has painted (0: a blank chart). */
async function ink() {
	return page.$$eval('canvas', (cs) => cs.map((c) => {
		const d = c.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 3; i < d.length; i += 4)
			n += d[i] !== 0;
		return n;
	}));
}

/* axe-core on the page as it is: no violation at WCAG 2.2 A and AA. It is
 * evaluated through the DevTools protocol, which the page's
 * Content-Security-Policy does not govern. */
async function accessible(where) {
	await page.evaluate(axeSource);
	const result = await page.evaluate(() => window.axe.run(document, {
		runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
	}));
	const v = result.violations.map((x) => x.id + ' (' + x.nodes.length + ': ' + x.nodes[0].target.join(' ') + ')');
	check(v.length === 0, `${where} has no WCAG 2.2 AA violation` + (v.length ? ': ' + v.join(', ') : ''));
}

const scenarios = {
	/* A trust lead signs in by link, previews and saves a threshold; the
	 * audit page shows it with their name. */
	async 'trust-lead'() {
		await page.goto(URL + '/#/link/' + process.env.CONSOLE_LINK, { waitUntil: 'load' });
		await page.waitForSelector('main[data-page="signin"][data-ready="true"]');
		await drawn(() => page.click('main button[type=submit]'));
		check((await page.$eval('main', (m) => m.getAttribute('data-page'))) === 'overview', 'the link signs in');
		noErrors('the link');
		await visit('#/thresholds', 'thresholds');
		const input = await page.$('main input.govuk-input');
		const name = await input.evaluate((i) => i.name);
		const now = Number(await input.evaluate((i) => i.value));
		const max = Number(await input.evaluate((i) => (i.closest('.govuk-form-group').querySelector('.govuk-hint').textContent.match(/and ([0-9.]+)/) || [])[1]));
		const next = now === max ? now - 1 : now + (Number.isInteger(now) ? 1 : 0.01);
		await input.click({ clickCount: 3 });
		await input.type(String(Number(next.toFixed(4))));
		const form = await input.evaluateHandle((i) => i.form);
		await (await form.$('button[value=preview]')).click();
		await page.waitForSelector('.rc-preview table, .rc-preview p');
		check(/in force/.test(await text()), 'the preview shows the value in force beside the new one');
		await shot('thresholds-preview');
		await drawn(async () => (await form.$('button[value=save]')).click());
		check((await text()).includes(name + ' is now ' + Number(next.toFixed(4))), 'saving says so');
		await visit('#/audit', 'audit');
		const t = await text();
		check(t.includes('params.set') && t.includes(process.env.CONSOLE_PERSON || ''), 'the audit page shows the change and who made it');
		await shot('audit');
		await signOut();
		await visit('#/link/' + process.env.CONSOLE_LINK, 'signin');
		await page.click('main button[type=submit]');
		await page.waitForSelector('.govuk-error-summary');
		check(/used|expired|not valid/i.test(await page.$eval('.govuk-error-summary', (e) => e.innerText)), 'a link signs in once only');
		errors.length = 0; /* the refused sign-in is a 401 the page reports itself */
	},

	/* An officer approves one proposal and declines another (after being
	 * told a reason is needed). */
	async officer() {
		await signInWithToken(TOKENS.officer);
		await visit('#/decisions', 'decisions');
		await shot('decisions');
		const ids = await page.$$eval('main a[href^="#/decisions/"]', (as) => as.map((a) => a.getAttribute('href').slice(12)));
		check(ids.length >= 2, 'two proposals or more are waiting (' + ids.length + ')');
		await visit('#/decisions/' + ids[0], 'decision');
		await shot('decision');
		await page.type('#note-' + ids[0], 'no leave was asked for');
		await drawn(() => page.click('#approve-' + ids[0]));
		check((await text()).includes('Approved:'), 'approving says so');
		await visit('#/decisions/' + ids[1], 'decision');
		await page.click('#decline-' + ids[1]);
		await page.waitForSelector('.govuk-error-summary');
		check(await page.$('#reason-' + ids[1] + '-error') !== null, 'declining with no reason shows the error by the field');
		await shot('decisions-error');
		errors.length = 0;
		await page.type('#reason-' + ids[1], 'the family has moved abroad');
		await drawn(() => page.click('#decline-' + ids[1]));
		const t = await text();
		check(t.includes('Declined:'), 'declining says so');
		check(t.includes('no leave was asked for') && t.includes('the family has moved abroad'), 'both decisions are listed with the note and the reason');
		await visit('#/deliveries', 'deliveries');
		await shot('deliveries');
		check((await text()).includes('Endpoints'), 'the deliveries page shows the endpoints\' state');
		await page.$eval('#bulk-since', (i) => { i.value = '2000-01-01'; });
		await drawn(() => page.click('#redeliver-all'));
		check(/[1-9][0-9]* deliveries to .* queued again/.test(await text()), 'every dead delivery since a time is queued again');
	},

	/* An author uploads a policy with an error, sees its line, fixes it,
	 * publishes, and rolls back. */
	async author() {
		await signInWithToken(TOKENS.author);
		await visit('#/policy', 'policy');
		const live = await page.$eval('#draft', (t) => t.value);
		const broken = live.replace(/function on_pupil\(p\)/, 'function on_pupil(p)\n  if p.year_group == 9 then end\n  local x = = 1');
		/* uploaded as a file, as an author would */
		const draft = join(mkdtempSync(join(tmpdir(), 'rollcall-draft-')), 'la-355.lua');
		writeFileSync(draft, broken);
		await (await page.$('#draft-file')).uploadFile(draft);
		await page.waitForFunction(() => document.getElementById('draft').value.includes('local x = = 1'));
		await page.click('main button[value=check]');
		await page.waitForSelector('.govuk-error-summary');
		const summaryText = await page.$eval('.govuk-error-summary', (e) => e.innerText);
		check(/Line \d+/.test(summaryText), 'a draft that does not load shows the line of its error: ' + summaryText.split('\n').slice(1, 3).join(' '));
		await shot('policy-error');
		errors.length = 0;
		const fixed = live.replace(/function on_pupil\(p\)/, 'function on_pupil(p)\n  -- reviewed by the attendance team');
		await page.$eval('#draft', (t, v) => { t.value = v; }, fixed);
		await page.click('main button[value=check]');
		await page.waitForFunction(() => document.querySelector('main').innerText.includes('No errors'));
		await shot('policy-checked');
		await drawn(() => page.click('main button[value=publish]'));
		check((await text()).includes('The new version is live'), 'publishing says so');
		const versions = await page.$$eval('main table tbody tr', (r) => r.length);
		check(versions >= 2, 'the versions list the old and the new (' + versions + ')');
		await shot('policy');
		await drawn(() => page.click('main table form button'));
		check((await text()).includes('is live again'), 'rolling back says so');
	},

	/* A viewer sees no control it may not use, and sending the request
	 * anyway is refused. */
	async viewer() {
		await signInWithToken(TOKENS.viewer);
		const nav = await page.$eval('#navigation', (n) => n.innerText);
		check(!nav.includes('Policy') && !nav.includes('Deliveries'), 'the menu has no page the role may not use');
		await visit('#/thresholds', 'thresholds');
		check((await page.$$('main button[value=save]')).length === 0, 'no Save button on thresholds');
		check((await page.$$eval('main input.govuk-input', (is) => is.every((i) => i.disabled))), 'the values cannot be edited');
		await visit('#/decisions', 'decisions');
		check((await page.$$('main button[id^=approve-]')).length === 0, 'no Approve button on decisions');
		await visit('#/policy', 'not-found');
		const status = await page.evaluate(async () => {
			const me = await (await fetch('/api/v1/params')).json();
			const name = me.items[0].name;
			const r = await fetch('/api/v1/params/' + name, { method: 'PUT', headers: { 'Content-Type': 'application/json' },
									  body: JSON.stringify({ value: me.items[0].value }) });
			return r.status;
		});
		check(status === 403, 'setting a threshold anyway is refused with 403 (' + status + ')');
		const forged = await page.evaluate(async () => {
			const r = await fetch('/api/v1/signoff/1/approve', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
			return r.status;
		});
		check(forged === 403 || forged === 404, 'approving anyway is refused (' + forged + ')');
		errors.length = 0;
	},

	/* Signed in for one organisation, no page shows another's pupils, and
	 * looking one up finds nothing. */
	async 'cross-org'() {
		await signInWithToken(TOKENS.author);
		for (const hash of ['#/', '#/thresholds', '#/decisions', '#/pupils', '#/policy', '#/deliveries', '#/audit']) {
			await visit(hash);
			const t = await text();
			const seen = FOREIGN.filter((u) => t.includes(u));
			check(seen.length === 0, `${hash} shows no other organisation's pupil` + (seen.length ? ': ' + seen.join(' ') : ''));
		}
		await page.evaluate(() => document.getElementById('main-content').setAttribute('data-ready', 'false'));
		await page.evaluate((u) => { location.hash = '#/pupils/' + u; }, FOREIGN[0]);
		await page.waitForSelector('main[data-ready="true"]');
		check((await page.$('.govuk-error-summary')) !== null && !(await text()).includes('Figures'), 'looking up another organisation\'s pupil finds nothing');
		check(errors.length > 0 && errors.every((e) => /404/.test(e)), 'the API answered 404 for it');
		errors.length = 0;
	},

	/* Every page, as an author (who sees them all), passes axe-core and is
	 * written as a screenshot. */
	async axe() {
		await page.goto(URL + '/', { waitUntil: 'load' });
		await page.waitForSelector('main[data-page="signin"][data-ready="true"]');
		await accessible('the sign-in page');
		await shot('signin');
		await signInWithToken(TOKENS.author);
		const upn = process.env.CONSOLE_UPN;
		for (const [hash, name] of [['#/', 'overview'], ['#/thresholds', 'thresholds'], ['#/decisions', 'decisions'],
					    ['#/decisions/' + process.env.CONSOLE_PROPOSAL, 'decision'],
					    ['#/pupils', 'pupils'], ['#/pupils/' + upn, 'pupil'], ['#/policy', 'policy'],
					    ['#/deliveries', 'deliveries'], ['#/audit', 'audit']]) {
			await visit(hash, name);
			await accessible('the ' + name + ' page');
			await shot(name);
			if (name === 'pupils') { /* each open case with its steps and their dates */
				const steps = await page.$$eval('main table tbody tr', (rows) => rows.map((r) => r.cells[4].textContent));
				check(steps.length > 0 && steps.every((t) => /^[a-z_]+ \d{4}-\d{2}-\d{2}/.test(t)), 'the open cases show their steps (' + steps.slice(0, 3).join('; ') + ')');
			}
			if (name === 'overview') {
				const painted = await ink();
				check(painted.length === 3 && painted.every((n) => n > 1000), 'the overview draws its three charts (' + painted.join(', ') + ')');
			}
		}
		/* keyboard alone: from the top of a page, Tab reaches the skip link,
		 * then the service's name and the menu; Enter on a menu link opens
		 * its page */
		await page.evaluate(() => { location.hash = '#/'; });
		await page.reload({ waitUntil: 'load' });
		await page.waitForSelector('main[data-ready="true"]');
		await page.keyboard.press('Tab');
		check(await page.evaluate(() => document.activeElement.classList.contains('govuk-skip-link')), 'the first Tab reaches the skip link');
		await page.keyboard.press('Tab');
		await page.keyboard.press('Tab');
		await page.keyboard.press('Tab');
		const focused = await page.evaluate(() => document.activeElement.textContent.trim());
		check(focused === 'Thresholds', 'Tab goes on through the menu (' + focused + ')');
		await drawn(() => page.keyboard.press('Enter'));
		check((await page.$eval('main', (m) => m.getAttribute('data-page'))) === 'thresholds', 'Enter opens the page');
	},
};

const name = process.argv[2];
try {
	if (!scenarios[name])
		throw new Error('no scenario ' + name);
	await scenarios[name]();
	noErrors('the last page');
} catch (e) {
	failures++;
	console.log('FAIL: ' + name + ': ' + (e && e.stack ? e.stack : e));
	await shot('failed-' + name).catch(() => {});
}
await browser.close();
process.exit(failures ? 1 : 0);
