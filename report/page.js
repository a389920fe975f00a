/*
 * rollcall report: draws the page from the JSON in #report-data with
 * Chart.js (embedded above this script). Text from the data goes into the
 * page through textContent only, never as HTML, so a school's name is shown,
 * never run.
 *
 * After drawing, each canvas gets data-ink: the number of its pixels painted
 * in one of its datasets' colours (0 if the chart has nothing to show), and
 * <body> gets data-report="drawn" — what tests/test_report.c reads back from
 * headless Chromium to tell drawn charts from blank ones.
 */
(function () {
	'use strict';
	var data = JSON.parse(document.getElementById('report-data').textContent);
	var palette = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2',
		       '#db2777', '#65a30d', '#9333ea', '#ea580c', '#0f766e', '#4b5563'];
	var charts = [];

	function text(id, value) { document.getElementById(id).textContent = value; }

	function chart(id, type, labels, datasets, options) {
		var canvas = document.getElementById(id);
		datasets.forEach(function (ds, i) {
			var colour = palette[i % palette.length];
			ds.borderColor = colour;
			ds.backgroundColor = colour;
			ds.pointBackgroundColor = colour;
			ds.borderWidth = 2;
		});
		var config = {
			type: type,
			data: { labels: labels, datasets: datasets },
			/* No animation: the chart is complete when the page has
			 * loaded, for printing and for the test's pixel check. */
			options: Object.assign({ animation: false, maintainAspectRatio: false,
						 responsive: true }, options || {})
		};
		charts.push(new Chart(canvas, config));
	}

	function table(id, columns, rows) {
		var el = document.getElementById(id);
		if (!rows.length) {
			var p = document.createElement('p');
			p.className = 'empty';
			p.textContent = 'None.';
			el.replaceWith(p);
			return;
		}
		var head = el.createTHead().insertRow();
		columns.forEach(function (c) {
			var th = document.createElement('th');
			th.textContent = c.title;
			if (c.numeric) th.className = 'n';
			head.appendChild(th);
		});
		var body = el.createTBody();
		rows.forEach(function (r) {
			var tr = body.insertRow();
			columns.forEach(function (c) {
				var td = tr.insertCell();
				td.textContent = c.value(r);
				if (c.numeric) td.className = 'n';
			});
		});
	}

	function percent(v) { return v === null ? '' : v.toFixed(1) + '%'; }

	text('org', data.org);
	text('year', data.academic_year || 'no marks');
	text('through', data.through || 'no marks');
	text('pupils', data.pupils);

	var percentAxis = { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + '%'; } } } };
	chart('rates', 'line', data.weeks, [
		{ label: 'attendance rate', data: data.attendance_rate },
		{ label: 'absence rate', data: data.absence_rate }
	], { scales: percentAxis, spanGaps: true });

	chart('absentees', 'line', data.weeks, [
		{ label: 'persistent (absence \u2265 10%)', data: data.persistent },
		{ label: 'severe (absence \u2265 50%)', data: data.severe }
	], { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });

	chart('actions', 'bar', data.weeks, data.actions.map(function (a) {
		return { label: a.label, data: a.weeks };
	}), { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } });

	chart('schools', 'bar', data.schools.map(function (s) { return s.urn + ' ' + s.name; }), [
		{ label: 'persistent absentees', data: data.schools.map(function (s) { return s.persistent; }) }
	], { indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });
	table('schools-table', [
		{ title: 'URN', value: function (s) { return s.urn; } },
		{ title: 'School', value: function (s) { return s.name; } },
		{ title: 'Pupils', numeric: true, value: function (s) { return s.pupils; } },
		{ title: 'Persistent', numeric: true, value: function (s) { return s.persistent; } },
		{ title: 'Share', numeric: true, value: function (s) { return percent(s.share); } }
	], data.schools);

	chart('cases', 'bar', data.cases.map(function (c) { return c.stage; }), [
		{ label: 'open cases', data: data.cases.map(function (c) { return c.count; }) }
	], { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });

	table('waiting-table', [
		{ title: 'Step', value: function (w) { return w.step; } },
		{ title: 'UPN', value: function (w) { return w.left ? '(has left)' : w.upn; } },
		{ title: 'URN', value: function (w) { return w.urn; } },
		{ title: 'Proposed', value: function (w) { return w.proposed; } },
		{ title: 'Decide by', value: function (w) { return w.decide_by; } }
	], data.signoff_waiting);

	table('decided-table', [
		{ title: 'Decided by', value: function (d) { return d.by === null ? '(nobody: expired)' : d.by; } },
		{ title: 'Approved', numeric: true, value: function (d) { return d.approved; } },
		{ title: 'Declined', numeric: true, value: function (d) { return d.declined; } },
		{ title: 'Expired', numeric: true, value: function (d) { return d.expired; } }
	], data.signoff_decided);

	data.severe_pupils.sort(function (a, b) { return b.absence_rate - a.absence_rate || (a.upn < b.upn ? -1 : 1); });
	table('severe-table', [
		{ title: 'UPN', value: function (p) { return p.upn; } },
		{ title: 'URN', value: function (p) { return p.urn; } },
		{ title: 'Year', value: function (p) { return p.year_group; } },
		{ title: 'Possible sessions', numeric: true, value: function (p) { return p.possible; } },
		{ title: 'Absence', numeric: true, value: function (p) { return percent(p.absence_rate); } }
	], data.severe_pupils);

	function rgb(hex) {
		return [1, 3, 5].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
	}

	/* Count the pixels in dataset colours: axes, grid and legend text alone
	 * (what an empty chart draws) do not use them; bars, lines and points do. */
	function ink(c) {
		var colours = c.data.datasets.map(function (ds) { return rgb(ds.borderColor); });
		var canvas = c.canvas;
		var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
		var area = c.chartArea, scale = canvas.width / c.width, n = 0;
		for (var y = Math.ceil(area.top * scale); y < Math.floor(area.bottom * scale); y++)
			for (var x = Math.ceil(area.left * scale); x < Math.floor(area.right * scale); x++) {
				var i = (y * canvas.width + x) * 4;
				if (px[i + 3] !== 255) continue;
				for (var k = 0; k < colours.length; k++)
					if (px[i] === colours[k][0] && px[i + 1] === colours[k][1] && px[i + 2] === colours[k][2]) {
						n++;
						break;
					}
			}
		return n;
	}

	window.requestAnimationFrame(function () {
		charts.forEach(function (c) { c.canvas.setAttribute('data-ink', String(ink(c))); });
		document.body.setAttribute('data-report', 'drawn');
	});
})();
