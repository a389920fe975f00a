/*
 * console.js — the web console: pages for a council's or a trust's people
 * over rollcall's API (/api/v1), in the GOV.UK Design System's components.
 *
 * The server gives one page (index.html) and this script; everything shown
 * comes from the API as JSON, with the session cookie that signing in set.
 * Every text from the data reaches the page through textContent (el()
 * below), never as HTML, so a school's or a person's name is shown, never
 * run. A page shows only what the signed-in role may do; the API refuses
 * the rest whatever the page shows (403), and the page says so the GOV.UK
 * way: an error summary at the top, the message by the field.
 *
 * After a page has drawn, <main> gets data-page (its name) and
 * data-ready="true": what the browser tests wait for.
 */
import { initAll } from './govuk-frontend.min.js';

const ROLES = ['viewer', 'thresholds', 'officer', 'author'];

/* The pages, in the navigation's order: path, title, least role. */
const PAGES = [
	{ path: '', title: 'Overview', role: 'viewer', draw: overview },
	{ path: 'thresholds', title: 'Thresholds', role: 'viewer', draw: thresholds },
	{ path: 'decisions', title: 'Decisions', role: 'viewer', draw: decisions },
	{ path: 'pupils', title: 'Pupils and cases', role: 'viewer', draw: pupils },
	{ path: 'policy', title: 'Policy', role: 'author', draw: policy },
	{ path: 'deliveries', title: 'Deliveries', role: 'officer', draw: deliveries },
	{ path: 'audit', title: 'Audit', role: 'viewer', draw: audit },
];

const CATEGORY_NAMES = {
	present: 'present',
	aea: 'approved educational activity',
	authorised: 'authorised absence',
	unauthorised: 'unauthorised absence',
	not_counted: 'not a possible session',
};

const AUDIT_DAYS = 90; /* the audit trail shown: its last 90 days */

let me = null; /* {org, role, name}: the signed-in person */

/* What GOV.UK Frontend's template does with an inline script, which the
 * Content-Security-Policy forbids: a browser that runs this module
 * supports GOV.UK Frontend's JavaScript. */
document.body.classList.add('js-enabled', 'govuk-frontend-supported');
const main = document.getElementById('main-content');

/* ---- building the page ---- */

/* An element: el('p', {class: 'govuk-body'}, 'text', child...). Strings
 * become text nodes; attributes are set as attributes (on* never). */
function el(tag, attrs, ...children) {
	const node = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === false || v === null || v === undefined)
			continue;
		if (k.startsWith('on'))
			node.addEventListener(k.slice(2), v);
		else
			node.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat())
		if (c !== null && c !== undefined && c !== false)
			node.append(c instanceof Node ? c : document.createTextNode(String(c)));
	return node;
}

function heading(text, caption) {
	return [caption ? el('span', { class: 'govuk-caption-l' }, caption) : null,
		el('h1', { class: 'govuk-heading-l' }, text)];
}

function para(...text) {
	return el('p', { class: 'govuk-body' }, ...text);
}

function link(href, text) {
	return el('a', { class: 'govuk-link', href }, text);
}

function button(text, attrs) {
	return el('button', Object.assign({ type: 'submit', class: 'govuk-button',
					    'data-module': 'govuk-button' }, attrs || {}), text);
}

/* A table: columns [{title, value(row) -> text or node, numeric}]. */
function table(caption, columns, rows, empty) {
	if (!rows.length)
		return para(empty || 'None.');
	return el('table', { class: 'govuk-table' },
		  el('caption', { class: 'govuk-table__caption govuk-table__caption--m' }, caption),
		  el('thead', { class: 'govuk-table__head' },
		     el('tr', { class: 'govuk-table__row' }, columns.map((c) =>
			     el('th', { scope: 'col', class: 'govuk-table__header' +
					(c.numeric ? ' govuk-table__header--numeric' : '') }, c.title)))),
		  el('tbody', { class: 'govuk-table__body' }, rows.map((r) =>
			  el('tr', { class: 'govuk-table__row' }, columns.map((c) =>
				  el('td', { class: 'govuk-table__cell' +
					     (c.numeric ? ' govuk-table__cell--numeric' : '') + (c.nowrap ? ' rc-nowrap' : '') },
				     c.value(r)))))));
}

/* A summary list: [[key, value], ...]. */
function summary(pairs) {
	return el('dl', { class: 'govuk-summary-list' }, pairs.map(([k, v]) =>
		el('div', { class: 'govuk-summary-list__row' },
		   el('dt', { class: 'govuk-summary-list__key' }, k),
		   el('dd', { class: 'govuk-summary-list__value' }, v === null || v === undefined ? '—' : v))));
}

function tag(text, colour) {
	return el('strong', { class: 'govuk-tag' + (colour ? ' govuk-tag--' + colour : '') }, text);
}

/* The date n days ago, YYYY-MM-DD (UTC). */
function daysAgo(n) {
	return new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);
}

function percent(v) {
	return v === null || v === undefined ? '—' : (100 * v).toFixed(1) + '%';
}

function may(role) {
	return me && ROLES.indexOf(me.role) >= ROLES.indexOf(role);
}

/* ---- the API ---- */

class ApiError extends Error {
	constructor(status, body) {
		super(body && body.error ? body.error : 'the server answered ' + status);
		this.status = status;
		this.field = body ? body.field : null;
		this.errors = body && body.errors ? body.errors : null;
	}
}

/* Call the API: JSON in (or text, for a policy) and out. Throws ApiError. */
async function api(method, path, body, headers) {
	const init = { method, credentials: 'same-origin', headers: Object.assign({}, headers) };
	if (typeof body === 'string') {
		init.body = body;
		init.headers['Content-Type'] = 'text/plain; charset=utf-8';
	} else if (body !== undefined) {
		init.body = JSON.stringify(body);
		init.headers['Content-Type'] = 'application/json';
	}
	const r = await fetch(path, init);
	const type = r.headers.get('Content-Type') || '';
	let data = null;
	if (type.startsWith('application/json')) {
		const text = await r.text();
		try {
			data = JSON.parse(text);
		} catch (e) {
			throw new ApiError(502, { error: 'the answer to ' + method + ' ' + path + ' was not whole (' +
					   r.status + ', ' + text.length + ' bytes): try again' });
		}
	}
	if (!r.ok)
		throw new ApiError(r.status, data);
	return { data, etag: r.headers.get('ETag') };
}

/* Every page of a list, following `next` (bounded: max items). */
async function all(path, max) {
	let items = [], next = null;
	do {
		const sep = path.includes('?') ? '&' : '?';
		const { data } = await api('GET', next ? path + sep + 'after=' + encodeURIComponent(next) : path);
		items = items.concat(data.items);
		next = data.next;
	} while (next && items.length < (max || 500));
	return items;
}

/* ---- errors, the GOV.UK way ---- */

/* An error summary at the top of form's page, and the message by the field
 * it names (an input whose name is the field), for an ApiError or a list
 * of {field, message}. */
function showErrors(form, errors) {
	clearErrors(form);
	const list = errors.map((e) => ({ field: e.field, message: e.message }));
	const summaryBox = el('div', { class: 'govuk-error-summary', 'data-module': 'govuk-error-summary' },
		el('div', { role: 'alert' },
		   el('h2', { class: 'govuk-error-summary__title' }, 'There is a problem'),
		   el('div', { class: 'govuk-error-summary__body' },
		      el('ul', { class: 'govuk-list govuk-error-summary__list' }, list.map((e) => {
			      const input = e.field && form.querySelector('[name="' + CSS.escape(e.field) + '"]');
			      return el('li', {}, input ? el('a', { href: '#' + input.id }, e.message) : e.message);
		      })))));
	form.before(summaryBox);
	for (const e of list) {
		const input = e.field && form.querySelector('[name="' + CSS.escape(e.field) + '"]');
		if (!input)
			continue;
		const group = input.closest('.govuk-form-group');
		group.classList.add('govuk-form-group--error');
		input.classList.add(input.tagName === 'TEXTAREA' ? 'govuk-textarea--error' : 'govuk-input--error');
		const id = input.id + '-error';
		input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
		input.before(el('p', { id, class: 'govuk-error-message' },
				el('span', { class: 'govuk-visually-hidden' }, 'Error: '), e.message));
	}
	initAll({ scope: summaryBox.parentNode });
	summaryBox.focus();
}

function clearErrors(form) {
	const prev = form.previousElementSibling;
	if (prev && prev.classList.contains('govuk-error-summary'))
		prev.remove();
	form.querySelectorAll('.govuk-error-message').forEach((m) => m.remove());
	form.querySelectorAll('.govuk-form-group--error').forEach((g) => g.classList.remove('govuk-form-group--error'));
	form.querySelectorAll('.govuk-input--error, .govuk-textarea--error').forEach((i) => {
		i.classList.remove('govuk-input--error', 'govuk-textarea--error');
		const d = (i.getAttribute('aria-describedby') || '').split(' ').filter((x) => !x.endsWith('-error'));
		d.length ? i.setAttribute('aria-describedby', d.join(' ')) : i.removeAttribute('aria-describedby');
	});
}

/* The errors an ApiError carries: a policy's FILE:LINE list, or one. */
function errorsOf(e, field) {
	if (!(e instanceof ApiError))
		throw e;
	if (e.errors)
		return e.errors.map((x) => ({ field, message: (x.line ? 'Line ' + x.line + ': ' : '') + x.message }));
	/* the API names a param as params.NAME; its input is named NAME */
	const named = e.field ? String(e.field).replace(/^params\./, '') : null;
	return [{ field: named || field, message: e.message }];
}

/* A form's submit handler: run, or show what the API refused. */
function onSubmit(form, field, run) {
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const b = form.querySelector('button[type=submit]');
		if (b)
			b.disabled = true;
		try {
			clearErrors(form);
			await run(ev.submitter);
		} catch (e) {
			showErrors(form, errorsOf(e, field));
		} finally {
			if (b)
				b.disabled = false;
		}
	});
}

function field(id, label, input, hint) {
	const hintId = hint ? id + '-hint' : null;
	if (hintId)
		input.setAttribute('aria-describedby', hintId);
	return el('div', { class: 'govuk-form-group' },
		  el('label', { class: 'govuk-label', for: id }, label),
		  hint ? el('div', { class: 'govuk-hint', id: hintId }, hint) : null,
		  input);
}

function banner(text, heading) {
	return el('div', { class: 'govuk-notification-banner govuk-notification-banner--success', role: 'alert',
			   'aria-labelledby': 'banner-title', 'data-module': 'govuk-notification-banner' },
		  el('div', { class: 'govuk-notification-banner__header' },
		     el('h2', { class: 'govuk-notification-banner__title', id: 'banner-title' }, 'Success')),
		  el('div', { class: 'govuk-notification-banner__content' },
		     el('p', { class: 'govuk-notification-banner__heading' }, heading || text)));
}

/* ---- signing in ---- */

async function signin(code) {
	const form = el('form', { novalidate: true },
		code ? para('This link signs you in once. It cannot be used again afterwards.')
		     : field('token', 'Access token',
			     el('input', { class: 'govuk-input', id: 'token', name: 'token', type: 'password',
					   autocomplete: 'off', spellcheck: 'false' }),
			     'The token your organisation\'s rollcall administrator gave you, starting rc_'),
		button('Sign in'));
	onSubmit(form, 'token', async () => {
		const body = code ? { link: code } : { token: form.elements.token.value.trim() };
		await api('POST', '/console/session', body);
		await whoami();
		if (location.hash === '#/')
			await route();
		else
			location.hash = '#/'; /* hashchange draws it */
	});
	render('signin', heading('Sign in'), form);
}

async function signout() {
	try {
		await api('DELETE', '/console/session');
	} catch (e) {
		/* signed out already */
	}
	me = null;
	nav();
	render('signout', heading('You have signed out'), para(link('#/', 'Sign in again')));
}

/* ---- 1. overview ---- */

let charts = [];

async function overview() {
	const { data } = await api('GET', '/api/v1/report', undefined, { Accept: 'application/json' });
	const weeks = data.weeks || [];
	const rates = el('canvas', { id: 'chart-rates', role: 'img',
				     'aria-label': 'Attendance and absence rate by school week' });
	const absentees = el('canvas', { id: 'chart-absentees', role: 'img',
					 'aria-label': 'Persistent and severe absentees by school week' });
	const acts = el('canvas', { id: 'chart-actions', role: 'img',
				    'aria-label': 'Actions recorded by school week and kind' });
	render('overview', heading('Overview', me.org),
	       summary([['Academic year', data.academic_year], ['Marks through', data.through],
			 ['Pupils', String(data.pupils)],
			 ['Legal steps waiting for a decision', String((data.signoff_waiting || []).length)]]),
	       el('h2', { class: 'govuk-heading-m' }, 'Attendance and absence'),
	       el('div', { class: 'rc-chart' }, rates),
	       el('h2', { class: 'govuk-heading-m' }, 'Persistent (10%+) and severe (50%+) absence'),
	       el('div', { class: 'rc-chart' }, absentees),
	       el('h2', { class: 'govuk-heading-m' }, 'Actions'),
	       el('div', { class: 'rc-chart' }, acts),
	       table('Open cases by stage', [{ title: 'Stage', value: (c) => c.stage },
					     { title: 'Cases', numeric: true, value: (c) => String(c.count) }],
		     data.cases || [], 'No open cases.'));
	const palette = ['#1d70b8', '#d4351c', '#00703c', '#f47738', '#4c2c92', '#28a197', '#d53880', '#505a5f'];
	const draw = (canvas, type, labels, sets, options) => {
		sets.forEach((s, i) => {
			s.borderColor = s.backgroundColor = palette[i % palette.length];
		});
		charts.push(new window.Chart(canvas, { type, data: { labels, datasets: sets },
			options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, options) }));
	};
	charts.forEach((c) => c.destroy());
	charts = [];
	draw(rates, 'line', weeks, [{ label: 'attendance rate (%)', data: data.attendance_rate },
				    { label: 'absence rate (%)', data: data.absence_rate }],
	     { scales: { y: { min: 0, max: 100 } }, spanGaps: true });
	draw(absentees, 'line', weeks, [{ label: 'persistent', data: data.persistent },
					{ label: 'severe', data: data.severe }],
	     { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
	draw(acts, 'bar', weeks, (data.actions || []).map((a) => ({ label: a.label, data: a.weeks })),
	     { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } });
}

/* ---- 2. thresholds ---- */

async function thresholds() {
	const [{ data, etag }, trail] = await Promise.all([api('GET', '/api/v1/params'),
							    all('/api/v1/audit?since=' + daysAgo(AUDIT_DAYS), 1000)]);
	const rows = data.items.map((p) => param(p, etag));
	render('thresholds', heading('Thresholds', me.org),
	       para('Each threshold the policy declares, with its bounds. Changing one shows what it would have changed over the last 4 weeks before it is saved.'),
	       rows,
	       table('Changes', [{ title: 'When', value: (a) => a.at }, { title: 'Who', value: (a) => a.who },
				 { title: 'What', value: (a) => a.detail || a.what },
				 { title: 'Before', value: (a) => a.before === null ? 'default' : a.before },
				 { title: 'After', value: (a) => a.after === null ? 'default' : a.after }],
		     trail.filter((a) => a.what.startsWith('params.')).reverse(),
		     'No threshold has been changed in the last ' + AUDIT_DAYS + ' days.'));
}

function param(p, etag) {
	const id = 'param-' + p.name;
	const bounds = 'Between ' + p.min + ' and ' + p.max + (p.integer ? ', a whole number' : '') +
		'. Default ' + p.default + '.';
	const box = el('div', { class: 'govuk-summary-card' });
	const input = el('input', { class: 'govuk-input govuk-input--width-5', id, name: p.name, type: 'text',
				    inputmode: p.integer ? 'numeric' : 'decimal', value: p.value, spellcheck: 'false',
				    disabled: !may('thresholds') });
	const form = el('form', { novalidate: true }, field(id, 'Value', input, (p.doc ? p.doc + '. ' : '') + bounds));
	const preview = el('div', { class: 'rc-preview', 'aria-live': 'polite' });
	if (may('thresholds')) {
		form.append(el('div', { class: 'govuk-button-group' },
			       button('Preview', { name: 'do', value: 'preview', class: 'govuk-button govuk-button--secondary' }),
			       button('Save', { name: 'do', value: 'save' }),
			       p.value !== p.default ? button('Reset to default', { name: 'do', value: 'reset',
									    class: 'govuk-button govuk-button--warning' }) : null));
		let previewed = null;
		onSubmit(form, p.name, async (submitter) => {
			const what = submitter ? submitter.value : 'preview';
			const value = Number(input.value.trim());
			if (input.value.trim() === '' || !Number.isFinite(value))
				throw new ApiError(422, { error: 'Enter a number for ' + p.name, field: p.name });
			if (what === 'reset') {
				await api('DELETE', '/api/v1/params/' + encodeURIComponent(p.name), undefined, { 'If-Match': etag });
				return saved(p.name + ' is back to its default, ' + p.default);
			}
			if (what === 'save' && previewed !== value)
				return showPreview(value, 'Check what it would have changed, then save.');
			if (what === 'save') {
				await api('PUT', '/api/v1/params/' + encodeURIComponent(p.name), { value }, { 'If-Match': etag });
				return saved(p.name + ' is now ' + value);
			}
			return showPreview(value);
		});
		const showPreview = async (value, note) => {
			const { data } = await api('POST', '/api/v1/params/preview', { params: { [p.name]: value }, days: 28 });
			previewed = value;
			preview.replaceChildren(...compared('What it would have changed', data.days, data.in_force,
							 p.name + ' = ' + p.value + ' (in force)', data.proposed,
							 p.name + ' = ' + value, data.difference),
						...(note ? [para(note)] : []));
		};
	}
	box.append(el('div', { class: 'govuk-summary-card__title-wrapper' },
		      el('h2', { class: 'govuk-summary-card__title' }, p.name)),
		   el('div', { class: 'govuk-summary-card__content' }, form, preview));
	return box;
}

/* What a replay beside another says: actions by kind on each side, and
 * the pupils whose actions would differ (a preview: the value in force
 * beside the proposed one; a policy check: the live version beside the
 * draft). */
function compared(caption, days, before, beforeTitle, after, afterTitle, difference) {
	const kinds = [...new Set(Object.keys((before && before.by_kind) || {})
				  .concat(Object.keys(after.by_kind || {})))].sort();
	const count = (side, k) => String((side && side.by_kind && side.by_kind[k]) || 0);
	return [table(caption + ' over the last ' + days + ' days: actions by kind',
		      [{ title: 'Kind', value: (k) => k.replace(/_/g, ' ') },
		       { title: beforeTitle, numeric: true, value: (k) => count(before, k) },
		       { title: afterTitle, numeric: true, value: (k) => count(after, k) }],
		      kinds, 'No actions either way over the last ' + days + ' days.'),
		para('Pupils whose actions would differ: ' + ((difference && difference.pupils) || 0) + '.'),
		difference && difference.items && difference.items.length
			? table('What would differ' + (difference.truncated ? ' (the first ' + difference.items.length + ')' : ''),
				[{ title: 'Date', nowrap: true, value: (d) => d.date },
				 { title: 'Pupil', value: (d) => d.upn },
				 { title: 'Action', value: (d) => (d.action + ' ' + d.kind).replace(/_/g, ' ') },
				 { title: 'Only with', value: (d) => d.only_in === 'proposed' || d.only_in === 'draft' ? afterTitle : beforeTitle }],
				difference.items)
			: null].filter(Boolean);
}

/* Say what was done, on the page drawn next: this one again, or hash. */
function saved(text, hash) {
	sessionStorage.setItem('rollcall-banner', text);
	if (hash && location.hash !== hash) {
		location.hash = hash; /* hashchange draws it */
		return;
	}
	return route();
}

/* ---- 3. decisions ---- */

async function decisions(id) {
	if (id)
		return decision(id);
	const waiting = await all('/api/v1/signoff', 500);
	const decided = (await Promise.all(['approved', 'declined', 'expired'].map((state) =>
		all('/api/v1/actions?state=' + state, 200)))).flat()
		.sort((a, b) => (a.decided_at < b.decided_at ? 1 : a.decided_at > b.decided_at ? -1 : 0));
	waiting.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.action_id - b.action_id));
	render('decisions', heading('Decisions', me.org),
	       para('Legal steps the policy proposed, oldest first. Each needs a named person\'s decision (UK GDPR article 22): approve it with a note, or decline it with a reason.'),
	       table('Waiting for a decision', [
		       { title: 'Step', value: (a) => link('#/decisions/' + a.action_id, stepName(a) + ' for ' + a.pupil.upn) },
		       { title: 'Proposed', value: (a) => a.date },
		       { title: 'Decide by', value: (a) => a.past_decide_by ? tag(a.decide_by + ': overdue', 'red') : a.decide_by },
		       { title: 'Why', value: (a) => a.message || '—' }],
		     waiting, 'No legal step is waiting for a decision.'),
	       table('Decided steps', [{ title: 'Step', value: (a) => a.step || a.kind },
				       { title: 'Pupil', value: (a) => a.pupil.upn },
				       { title: 'Proposed', value: (a) => a.date },
				       { title: 'Decision', value: (a) => tag(a.state, a.state === 'approved' ? 'green' : a.state === 'declined' ? 'red' : 'grey') },
				       { title: 'By', value: (a) => a.decided_by || '—' },
				       { title: 'Note or reason', value: (a) => a.note || a.decline_reason || '—' }],
		     decided, 'No step has been decided yet.'));
}

function stepName(a) {
	return (a.step || a.kind).replace(/_/g, ' ');
}

function capital(s) {
	return s.charAt(0).toUpperCase() + s.slice(1);
}

/* One proposal: the pupil's figures and the evidence, and (for an
 * officer) approving or declining it; a step decided already says so. */
async function decision(id) {
	const { data: a } = await api('GET', '/api/v1/actions/' + encodeURIComponent(id));
	render('decision', el('a', { class: 'govuk-back-link', href: '#/decisions' }, 'Back to decisions'),
	       heading(capital(stepName(a)) + ' for ' + a.pupil.upn, 'Decision'),
	       a.state === 'proposed' ? null
		       : para(tag(a.state, a.state === 'approved' ? 'green' : a.state === 'declined' ? 'red' : 'grey'),
			      ' ', a.decided_by ? 'by ' + a.decided_by + ' on ' + (a.decided_at || '').slice(0, 10) : ''),
	       proposal(a));
}

function proposal(a) {
	const id = a.action_id;
	const e = a.evidence || {};
	const window = e['school_weeks=10'] || e.academic_year || {};
	const card = el('div', { class: 'govuk-summary-card', id: 'proposal-' + id });
	const content = el('div', { class: 'govuk-summary-card__content' },
		summary([['Pupil', link('#/pupils/' + encodeURIComponent(a.pupil.upn), a.pupil.upn)],
			 ['School (URN)', a.pupil.urn], ['Year group', a.pupil.year_group],
			 ['Why', a.message], ['Proposed on', a.date], ['Decide by', a.decide_by],
			 ['Attendance (last 10 school weeks)', percent(window.rate)],
			 ['Unauthorised sessions (last 10 school weeks)', window.unauthorised === undefined ? '—' : String(window.unauthorised)],
			 ['Possible sessions', window.possible === undefined ? '—' : String(window.possible)]]),
		el('details', { class: 'govuk-details' },
		   el('summary', { class: 'govuk-details__summary' },
		      el('span', { class: 'govuk-details__summary-text' }, 'All the evidence')),
		   el('div', { class: 'govuk-details__text' }, el('pre', { class: 'rc-evidence' }, JSON.stringify(e, null, 2)))));
	if (may('officer') && a.state === 'proposed') {
		const noteId = 'note-' + id, reasonId = 'reason-' + id;
		const approve = el('form', { novalidate: true },
			field(noteId, 'Note (optional)', el('textarea', { class: 'govuk-textarea', id: noteId, name: 'note', rows: 2 })),
			button('Approve', { id: 'approve-' + id }));
		const decline = el('form', { novalidate: true },
			field(reasonId, 'Reason for declining', el('textarea', { class: 'govuk-textarea', id: reasonId, name: 'reason', rows: 2 })),
			button('Decline', { id: 'decline-' + id, class: 'govuk-button govuk-button--warning' }));
		onSubmit(approve, 'note', async () => {
			await api('POST', '/api/v1/signoff/' + id + '/approve', { note: approve.elements.note.value || null });
			return saved('Approved: ' + stepName(a) + ' for ' + a.pupil.upn, '#/decisions');
		});
		onSubmit(decline, 'reason', async () => {
			const reason = decline.elements.reason.value.trim();
			if (!reason)
				throw new ApiError(422, { error: 'Enter why the step is declined', field: 'reason' });
			await api('POST', '/api/v1/signoff/' + id + '/decline', { reason });
			return saved('Declined: ' + stepName(a) + ' for ' + a.pupil.upn, '#/decisions');
		});
		content.append(approve, decline);
	}
	card.append(el('div', { class: 'govuk-summary-card__title-wrapper' },
		       el('h2', { class: 'govuk-summary-card__title' }, 'The pupil and the evidence')),
		    content);
	return card;
}

/* ---- 4. pupils and cases ---- */

async function pupils(upn) {
	const form = el('form', { novalidate: true, role: 'search' },
		field('upn', 'Unique pupil number (UPN)',
		      el('input', { class: 'govuk-input govuk-input--width-20', id: 'upn', name: 'upn', type: 'text',
				    spellcheck: 'false', autocomplete: 'off', value: upn || '' }),
		      '13 characters, for example A355200020000'),
		button('Find pupil'));
	onSubmit(form, 'upn', async () => {
		const v = form.elements.upn.value.trim().toUpperCase();
		if (!/^[A-Z][0-9]{11}[0-9A-Z]$/.test(v))
			throw new ApiError(422, { error: 'Enter a UPN: a letter, 11 digits, then a digit or letter', field: 'upn' });
		location.hash = '#/pupils/' + encodeURIComponent(v);
	});
	if (!upn) {
		const open = await all('/api/v1/cases?open=true', 100);
		return render('pupils', heading('Pupils and cases', me.org), form,
			      table('Open cases', caseColumns(), open, 'No open cases.'));
	}
	let p, marks, cases;
	try {
		const enc = encodeURIComponent(upn);
		[p, marks, cases] = await Promise.all([
			api('GET', '/api/v1/pupils/' + enc).then((r) => r.data),
			all('/api/v1/pupils/' + enc + '/marks', 2000),
			all('/api/v1/cases?upn=' + enc, 100)]);
	} catch (e) {
		if (e instanceof ApiError && e.status === 404) {
			render('pupils', heading('Pupils and cases', me.org), form);
			return showErrors(form, [{ field: 'upn', message: 'No pupil ' + upn + ' in ' + me.org }]);
		}
		throw e;
	}
	render('pupil', heading(p.upn, 'Pupil'), form,
	       summary([['School (URN)', p.urn], ['Year group', p.year_group],
			['Social worker', p.social_worker ? 'yes' : 'no'], ['SEN', p.sen],
			['Free school meals', p.fsm ? 'yes' : 'no'],
			['Days absent in a row', String(p.consecutive_absent_days)]]),
	       table('Figures', [{ title: 'Window', value: (w) => w.window },
				 { title: 'From', nowrap: true, value: (w) => w.from },
				 { title: 'To', nowrap: true, value: (w) => w.to },
				 { title: 'Possible', numeric: true, value: (w) => String(w.possible) },
				 { title: 'Attendance', numeric: true, value: (w) => percent(w.rate) },
				 { title: 'Unauthorised', numeric: true, value: (w) => String(w.unauthorised) },
				 { title: 'Authorised', numeric: true, value: (w) => String(w.authorised) }],
		     p.windows || []),
	       calendar(marks),
	       table('Cases', caseColumns(), cases, 'No cases.'),
	       table('Latest actions', [{ title: 'Date', value: (a) => a.date },
				 { title: 'Action', value: (a) => a.action },
				 { title: 'Kind', value: (a) => a.step || a.kind },
				 { title: 'State', value: (a) => a.state || '—' },
				 { title: 'Message', value: (a) => a.message || '—' }],
		     p.recent_actions || [], 'No actions.'));
}

function caseColumns() {
	return [{ title: 'Case', value: (c) => String(c.id) },
		{ title: 'Pupil', value: (c) => link('#/pupils/' + encodeURIComponent(c.upn), c.upn) },
		{ title: 'Stage', value: (c) => c.stage },
		{ title: 'Opened', value: (c) => c.opened },
		{ title: 'Steps', value: (c) => (c.steps || []).map((s) => s.step + ' ' + s.date).join(', ') || '—' },
		{ title: 'Closed', value: (c) => c.closed || 'open' }];
}

/* The marks of the latest term at a glance: a row a school week (a week
 * with a mark: holidays are left out), a cell a session (Monday AM to
 * Friday PM), coloured by category, its code in it. */
function calendar(marks) {
	if (!marks.length)
		return para('No marks.');
	const byDay = new Map();
	for (const m of marks)
		byDay.set(m.date + m.session, m);
	const last = new Date(marks[marks.length - 1].date + 'T12:00:00Z');
	const monday = (d) => new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * 86400000);
	const weeks = [];
	const marked = new Set(marks.map((m) => monday(new Date(m.date + 'T12:00:00Z')).toISOString()));
	for (let w = monday(last), i = 0; i < 20 && weeks.length < 14; i++, w = new Date(w.getTime() - 7 * 86400000))
		if (marked.has(w.toISOString()))
			weeks.unshift(w);
	const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'];
	const iso = (d) => d.toISOString().slice(0, 10);
	const used = new Set();
	const rows = weeks.map((w) => el('tr', {}, el('th', { scope: 'row' }, 'w/c ' + iso(w)),
		days.flatMap((_, k) => ['AM', 'PM'].map((s) => {
			const m = byDay.get(iso(new Date(w.getTime() + k * 86400000)) + s);
			const cat = m ? m.category : 'none';
			used.add(cat);
			return el('td', { class: 'rc-mark--' + cat,
					  title: m ? m.date + ' ' + s + ': ' + m.code + ' (' + CATEGORY_NAMES[cat] + ')' : '' },
				  m ? m.code : '');
		}))));
	return [el('h2', { class: 'govuk-heading-m' }, 'Marks, the last 14 school weeks'),
		el('table', { class: 'rc-calendar' },
		   el('caption', { class: 'govuk-visually-hidden' }, 'Marks by week and session'),
		   el('thead', {}, el('tr', {}, el('td', {}), days.map((d) => el('th', { scope: 'colgroup', colspan: 2 }, d)))),
		   el('tbody', {}, rows)),
		el('ul', { class: 'govuk-list' }, [...used].filter((c) => c !== 'none').map((c) =>
			el('li', {}, el('span', { class: 'rc-key rc-mark--' + c }, '\u00a0\u00a0\u00a0'), ' ' + CATEGORY_NAMES[c])))];
}

/* ---- 5. policy ---- */

async function policy() {
	const { data, etag } = await api('GET', '/api/v1/policy');
	const text = el('textarea', { class: 'govuk-textarea rc-code', id: 'draft', name: 'draft', rows: 24,
				      spellcheck: 'false' }, data.text || '');
	const file = el('input', { class: 'govuk-file-upload', id: 'draft-file', name: 'draft-file', type: 'file', accept: '.lua,text/plain' });
	file.addEventListener('change', async () => {
		if (file.files[0])
			text.value = await file.files[0].text();
	});
	const result = el('div', { 'aria-live': 'polite' });
	const form = el('form', { novalidate: true },
		field('draft-file', 'Upload a draft', file, 'A .lua file; it replaces the text below'),
		field('draft', 'Policy text', text, 'Check it first: every error is shown with its line, and a replay beside the live version over the last 28 days'),
		el('div', { class: 'govuk-button-group' },
		   button('Check', { name: 'do', value: 'check', class: 'govuk-button govuk-button--secondary' }),
		   button('Publish', { name: 'do', value: 'publish' })));
	let checked = null;
	onSubmit(form, 'draft', async (submitter) => {
		const draft = text.value;
		if (submitter && submitter.value === 'publish') {
			if (checked !== draft) {
				await check(draft);
				return;
			}
			await api('PUT', '/api/v1/policy', draft, { 'If-Match': etag });
			return saved('The new version is live');
		}
		await check(draft);
	});
	const check = async (draft) => {
		const { data: r } = await api('POST', '/api/v1/policy/check', draft);
		checked = draft;
		const replay = r.replay;
		result.replaceChildren(...[el('h2', { class: 'govuk-heading-m' }, 'No errors'),
				       (r.check.warnings || []).map((w) => el('div', { class: 'govuk-warning-text' },
					       el('span', { class: 'govuk-warning-text__icon', 'aria-hidden': 'true' }, '!'),
					       el('strong', { class: 'govuk-warning-text__text' },
						  el('span', { class: 'govuk-visually-hidden' }, 'Warning'),
						  typeof w === 'string' ? w : w.message))),
				       compared('The draft beside the live version', replay.days, replay.live,
						'live version', replay.draft, 'draft', replay.difference),
				       para('Publish to make it live.')].flat());
	};
	const versions = data.versions || [];
	render('policy', heading('Policy', me.org),
	       summary([['Live version (SHA-256)', el('code', {}, data.sha256 || 'none')], ['File', data.file]]),
	       form, result,
	       table('Versions', [{ title: 'SHA-256', value: (v) => el('code', {}, v.sha256.slice(0, 12)) },
				  { title: 'First loaded', value: (v) => v.first_loaded },
				  { title: 'Published by', value: (v) => v.published_by || 'from the file' },
				  { title: '', value: (v) => v.sha256 === data.sha256 ? tag('live', 'green') : rollback(v.sha256) }],
		     versions, 'No version kept yet.'));
}

function rollback(sha256) {
	const form = el('form', { novalidate: true, class: 'rc-inline' },
		button('Roll back to this version', { class: 'govuk-button govuk-button--secondary govuk-!-margin-bottom-0',
						     'aria-label': 'Roll back to this version, ' + sha256.slice(0, 12) }));
	onSubmit(form, null, async () => {
		await api('POST', '/api/v1/policy/rollback', { sha256 });
		return saved('Version ' + sha256.slice(0, 12) + ' is live again');
	});
	return form;
}

/* ---- 6. deliveries ---- */

async function deliveries() {
	const [dead, retrying, endpoints] = await Promise.all([all('/api/v1/deliveries?state=dead', 200),
							       all('/api/v1/deliveries?state=pending', 200),
							       all('/api/v1/endpoints', 100)]);
	const redeliver = (d) => {
		const form = el('form', { novalidate: true, class: 'rc-inline' },
			button('Redeliver', { class: 'govuk-button govuk-button--secondary govuk-!-margin-bottom-0',
					      'aria-label': 'Redeliver delivery ' + d.id }));
		onSubmit(form, null, async () => {
			await api('POST', '/api/v1/deliveries/' + d.id + '/redeliver');
			return saved('Delivery ' + d.id + ' is queued again');
		});
		return form;
	};
	const columns = [{ title: 'Delivery', value: (d) => String(d.id) },
			 { title: 'Endpoint', value: (d) => d.endpoint || '—' },
			 { title: 'Event', value: (d) => d.event || '—' },
			 { title: 'Attempts', numeric: true, value: (d) => String(d.attempts) },
			 { title: 'Last error', value: (d) => d.last_error || (d.last_status ? 'HTTP ' + d.last_status : '—') }];
	/* every dead delivery to an endpoint since a time, queued again */
	const withDead = endpoints.filter((e) => e.dead > 0);
	const bulk = withDead.length ? el('form', { novalidate: true },
		el('h2', { class: 'govuk-heading-m' }, 'Redeliver all since a time'),
		field('bulk-endpoint', 'Endpoint', el('select', { class: 'govuk-select', id: 'bulk-endpoint', name: 'endpoint' },
			withDead.map((e) => el('option', { value: e.name }, e.name + ' (' + e.dead + ' dead)')))),
		field('bulk-since', 'Queued on or after', el('input', { class: 'govuk-input govuk-input--width-10', id: 'bulk-since',
			name: 'since', type: 'text', spellcheck: 'false', value: daysAgo(7) }), 'A date, YYYY-MM-DD (UTC)'),
		button('Redeliver all', { id: 'redeliver-all', class: 'govuk-button govuk-button--secondary' })) : null;
	if (bulk)
		onSubmit(bulk, 'since', async () => {
			const { data } = await api('POST', '/api/v1/deliveries/redeliver',
						   { endpoint: bulk.elements.endpoint.value, since: bulk.elements.since.value.trim() });
			return saved(data.queued + ' deliveries to ' + data.endpoint + ' queued again');
		});
	render('deliveries', heading('Deliveries', me.org),
	       para('Webhooks to your case-management systems that failed, and those being retried. A delivery sent again keeps its webhook-id, so a receiver that had it already sees the same message.'),
	       table('Endpoints', [{ title: 'Endpoint', value: (e) => e.name },
				   { title: 'State', value: (e) => e.state === 'disabled' ? tag('disabled since ' + e.disabled_at, 'red')
							       : e.state === 'failing' ? tag('failing since ' + e.failing_since, 'orange') : tag('ok', 'green') },
				   { title: 'Waiting', numeric: true, value: (e) => String(e.pending) },
				   { title: 'Dead', numeric: true, value: (e) => String(e.dead) }],
		     endpoints, 'No delivery of yours is waiting or dead.'),
	       endpoints.some((e) => e.state === 'disabled')
		       ? el('div', { class: 'govuk-inset-text' }, 'A disabled endpoint\'s deliveries wait until it is enabled again (rollcall endpoint enable NAME, by the service\'s operator).')
		       : null,
	       table('Dead', columns.concat([{ title: '', value: redeliver }]), dead, 'No dead deliveries.'),
	       bulk,
	       table('Being retried', columns, retrying.filter((d) => d.attempts > 0), 'None being retried.'));
}

/* ---- 7. audit ---- */

async function audit() {
	const q = new URLSearchParams(location.hash.split('?')[1] || '');
	const what = q.get('what') || '';
	const rows = (await all('/api/v1/audit?since=' + daysAgo(AUDIT_DAYS), 1000))
		.filter((a) => !what || a.what.startsWith(what + '.')).reverse();
	const select = el('select', { class: 'govuk-select', id: 'what', name: 'what' },
		['', 'params', 'signoff', 'policy', 'delivery', 'token'].map((w) =>
			el('option', { value: w, selected: w === what }, w || 'everything')));
	const form = el('form', { novalidate: true }, field('what', 'Show', select), button('Filter', { class: 'govuk-button govuk-button--secondary' }));
	onSubmit(form, 'what', async () => {
		location.hash = '#/audit' + (select.value ? '?what=' + encodeURIComponent(select.value) : '');
	});
	render('audit', heading('Audit', me.org),
	       para('Every change made to your organisation\'s rollcall in the last ' + AUDIT_DAYS +
		    ' days, by whom and when, newest first (rollcall audit has the whole trail).'),
	       form,
	       table('Changes', [{ title: 'When', value: (a) => a.at }, { title: 'Who', value: (a) => a.who },
				 { title: 'What', value: (a) => a.what },
				 { title: 'Before', value: (a) => a.before === null ? '—' : a.before },
				 { title: 'After', value: (a) => a.after === null ? '—' : a.after },
				 { title: 'Detail', value: (a) => a.detail || '—' }],
		     rows, 'Nothing recorded yet.'));
}

/* ---- the frame ---- */

function render(name, ...content) {
	const note = sessionStorage.getItem('rollcall-banner');
	sessionStorage.removeItem('rollcall-banner');
	main.replaceChildren(...(note ? [banner(note)] : []), ...content.flat(Infinity).filter(Boolean));
	const title = main.querySelector('h1');
	document.title = (title ? title.textContent + ' – ' : '') + (me ? me.org + ' – ' : '') + 'rollcall';
	initAll({ scope: main });
	main.setAttribute('data-page', name);
	main.setAttribute('data-ready', 'true');
}

function nav() {
	const list = document.getElementById('navigation');
	const here = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
	const section = document.getElementById('service-navigation');
	section.hidden = !me;
	document.getElementById('service-name').textContent = me ? 'Attendance – ' + (me.org_name || me.org) : 'Attendance';
	if (!me)
		return list.replaceChildren();
	const item = (href, text, active) => el('li', { class: 'govuk-service-navigation__item' + (active ? ' govuk-service-navigation__item--active' : '') },
		el('a', { class: 'govuk-service-navigation__link', href, 'aria-current': active ? 'page' : false },
		   active ? el('strong', { class: 'govuk-service-navigation__active-fallback' }, text) : text));
	list.replaceChildren(...PAGES.filter((p) => may(p.role)).map((p) => item('#/' + p.path, p.title, p.path === here)),
			     item('#/signout', 'Sign out (' + me.name + ')', false));
}

async function route() {
	main.setAttribute('data-ready', 'false');
	const [path, ...rest] = location.hash.replace(/^#\/?/, '').split('?')[0].split('/');
	if (path === 'link')
		return signin(rest[0]);
	if (path === 'signout')
		return signout();
	if (!me)
		return signin();
	nav();
	const page = PAGES.find((p) => p.path === path);
	if (!page || !may(page.role))
		return render('not-found', heading('Page not found'), para(link('#/', 'Go to the overview')));
	try {
		await page.draw(...rest.map(decodeURIComponent));
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) {
			me = null;
			nav();
			return signin();
		}
		render('error', heading('Sorry, there is a problem'),
		       para(e instanceof ApiError ? e.message : 'The page could not be drawn: ' + e.message));
	}
}

/* Who is signed in: the session's person, or null. */
async function whoami() {
	const { data } = await api('GET', '/console/session');
	me = data.signed_in ? data : null;
}

async function start() {
	await whoami();
	await route();
}

window.addEventListener('hashchange', route);
start();
