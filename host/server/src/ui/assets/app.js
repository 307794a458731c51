// wasmboost dashboard: login, the hash router, and start-up. Every action calls the same route
// as the CLI (core.js `api`); pages are in pages.js.
'use strict';

// ---- routing ----

function route() {
  if (!me) return;
  leavePage();
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const [name, ...rest] = hash.split('/');
  const arg = rest.join('/');
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === (name || 'queues')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (name === 'queue' && arg) queuePage(arg);
  else if (name === 'task') taskPage(arg);
  else if (name === 'hosts') hostsPage();
  else if (name === 'schedules') schedulesPage();
  else queuesPage();
}

// ---- login ----

function showLogin(message) {
  me = null;
  leavePage();
  $('#page').hidden = true;
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  $('#login').hidden = false;
  const error = $('#login-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('#token').focus();
}

async function enter() {
  try {
    me = await api('GET', '/v1/whoami');
  } catch (err) {
    const tried = sessionStorage.getItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(tried ? err.message : '');
    return;
  }
  $('#login').hidden = true;
  $('#nav').hidden = false;
  $('#logout').hidden = !me.authenticated;
  $('#who').textContent = me.authenticated ? `token ${me.id} · ${me.scopes.join(', ')}` : 'unauthenticated loopback host';
  route();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('#token').value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#token').value = '';
    enter();
  });
  $('#logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('');
  });
  window.addEventListener('hashchange', route);
  enter();
});
