// Walks Candor's main stories in a real browser (Debian's Chromium, headless):
// a demo Global Administrator and a demo operator sign in, on a desktop and on a phone.
// Usage: node walk.mjs <base-url> <demo-credentials.json> <screenshot-dir> <outbox-dir>
import { chromium } from 'playwright-core';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, credentialsPath, shots, outbox] = process.argv.slice(2);
if (!base || !credentialsPath || !shots || !outbox) {
  console.error('usage: node walk.mjs <base-url> <demo-credentials.json> <screenshot-dir> <outbox-dir>');
  process.exit(2);
}

// The mail Candor wrote to its outbox (the demo has no SMTP relay): each .eml file's
// text, quoted-printable undone.
function outboxMail() {
  let names = [];
  try {
    names = readdirSync(outbox).filter((n) => n.endsWith('.eml'));
  } catch {
    return [];
  }
  return names.map((n) => readFileSync(join(outbox, n), 'latin1')
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))));
}

// Waits for the mail to `to` that holds a link containing `part`, and returns the link.
async function linkInMail(to, part) {
  for (let i = 0; i < 120; i++) {
    for (const mail of outboxMail()) {
      if (!mail.includes(to)) continue;
      const link = mail.split(/[\s<>"]+/).find((w) => w.startsWith('http') && w.includes(part));
      if (link) return link;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no mail to ${to} with a link to ${part} arrived in ${outbox}`);
}
mkdirSync(shots, { recursive: true });
const creds = JSON.parse(readFileSync(credentialsPath, 'utf8'));
const tenant = creds.tenants[0];
const admin = tenant.users.find((u) => u.roles.includes('GlobalAdministrator'));
const operator = creds.operators.find((o) => o.roles.includes('ProviderAdmin'));

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // Desktop: the tenant's Global Administrator.
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await desktop.newPage();
  await page.goto(`${base}/signin`);
  await page.screenshot({ path: `${shots}/01-signin.png`, fullPage: true });
  await page.fill('input[name=email]', admin.email);
  await page.fill('input[name=password]', 'not the password');
  await page.click('button[type=submit]:not(.small)');
  check((await page.textContent('.error')).includes('not correct'), 'a wrong password shows an error');
  await page.fill('input[name=email]', admin.email);
  await page.fill('input[name=password]', admin.password);
  await page.click('button[type=submit]:not(.small)');
  await page.waitForURL(`${base}/portal`);
  check((await page.textContent('h1')).length > 0, 'home has a heading');
  check((await page.textContent('body')).includes(tenant.name), 'home names the tenant');
  check((await page.textContent('body')).includes('Exchange Online'), 'home lists the services the tenant uses');
  check(await page.isVisible('.demo-banner'), 'demo data is marked as such');
  await page.screenshot({ path: `${shots}/02-tenant-home.png`, fullPage: true });

  await page.click('nav a[href="/portal/health"]');
  await page.waitForURL(`${base}/portal/health`);
  check((await page.textContent('body')).includes('Exchange Online'), 'the dashboard lists the services');
  const bars = await page.locator('.history .day').count();
  check(bars >= 90 && bars % 90 === 0, `each service shows its last 90 days (${bars} bars)`);
  check(await page.isVisible('.history .day'), 'the days are drawn');
  check((await page.locator('.history-row p').first().textContent()).includes('%'), 'each service has its monthly availability');
  const hurt = await page.locator('.history .day-outage, .history .day-degraded').count();
  check(hurt > 0, `the demo's issues show in the history (${hurt} days)`);
  await page.screenshot({ path: `${shots}/02b-health.png`, fullPage: true });
  const outsider = await (await browser.newContext()).newPage();
  await outsider.goto(`${base}/status`);
  const publicBars = await outsider.locator('.history .day').count();
  check(publicBars >= 90 && publicBars % 90 === 0, `the public page shows 90 days per service (${publicBars} bars)`);
  await outsider.screenshot({ path: `${shots}/02d-public-status.png`, fullPage: true });
  await page.click('table.services a');
  await page.waitForURL(/\/portal\/health\/issues\//);
  check((await page.locator('article.post').count()) === 2, 'the issue page shows both updates');
  await page.screenshot({ path: `${shots}/02c-health-issue.png`, fullPage: true });

  await page.click('nav a[href="/portal/audit"]');
  await page.waitForURL(/\/portal\/audit/);
  check((await page.locator('table.audit tbody tr').count()) > 0, 'the audit log shows records');
  check((await page.textContent('table.audit')).includes('UserLoggedIn'), 'the sign-in was recorded');
  await page.screenshot({ path: `${shots}/03-audit.png`, fullPage: true });

  await page.click('nav a[href="/portal/users"]');
  await page.waitForURL(`${base}/portal/users`);
  await page.fill('input[name=display_name]', 'Browser Test User');
  await page.fill('input[name=email]', `browser-${Date.now()}@${admin.email.split('@')[1]}`);
  await page.fill('input[name=password]', 'a-long-enough-password');
  await page.check('fieldset input[value=AuditReader]');
  await page.click('button:has-text("Add user"), form[action="/portal/users"] button[type=submit]');
  await page.waitForURL(/notice=user-created/);
  check(await page.isVisible('.notice'), 'adding a user says so');
  await page.screenshot({ path: `${shots}/04-users.png`, fullPage: true });

  await page.selectOption('#lang-select', 'nl');
  await page.click('.lang-form button');
  await page.waitForLoadState();
  check((await page.getAttribute('html', 'lang')) === 'nl', 'the language switcher works');
  await page.screenshot({ path: `${shots}/05-users-nl.png`, fullPage: true });
  await page.click('.signout-form button');
  await page.waitForURL(/\/signin/);

  // Desktop: the incident manager declares an issue after previewing its impact.
  const im = creds.operators.find((o) => o.roles.includes('IncidentManager'));
  const consoleContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const consolePage = await consoleContext.newPage();
  await consolePage.goto(`${base}/console/signin`);
  await consolePage.fill('input[name=email]', im.email);
  await consolePage.fill('input[name=password]', im.password);
  await consolePage.click('button[type=submit]:not(.small)');
  await consolePage.waitForURL(`${base}/console`);
  await consolePage.click('nav a[href="/console/issues"]');
  await consolePage.waitForURL(`${base}/console/issues`);
  await consolePage.screenshot({ path: `${shots}/08-console-issues.png`, fullPage: true });
  await consolePage.click('a.button[href="/console/issues/new"]');
  // One component: the Teams servers the first demo tenant lives on.
  await consolePage.selectOption('select[name=service]', 'MicrosoftTeams');
  await consolePage.fill('input[name=title]', 'Meetings fail to start');
  await consolePage.fill('input[name=impact_description]', 'Users may be unable to join meetings.');
  await consolePage.fill('input[name=components]', 'eu-west-su1-tms01');
  await consolePage.fill('textarea[name=body]', '<p>We are looking into failed meeting starts.</p>');
  await consolePage.click('button[value=preview]');
  await consolePage.waitForSelector('#preview');
  const preview = await consolePage.textContent('#preview');
  check(preview.includes('tenants will be told'), 'the impact preview appears');
  check(preview.includes(tenant.name), 'the preview lists the tenant placed there');
  await consolePage.screenshot({ path: `${shots}/09-console-preview.png`, fullPage: true });
  await consolePage.click('button[value=publish]');
  await consolePage.waitForURL(/\/console\/issues\/TM\d+/);
  const issueId = consolePage.url().split('/').pop().split('?')[0];
  await consolePage.screenshot({ path: `${shots}/10-console-issue.png`, fullPage: true });

  // The tenant placed there sees it; a tenant elsewhere does not.
  const seen = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const tenantPage = await seen.newPage();
  async function signIn(p, who) {
    await p.goto(`${base}/signin`);
    await p.fill('input[name=email]', who.email);
    await p.fill('input[name=password]', who.password);
    await p.click('button[type=submit]:not(.small)');
    await p.waitForURL(`${base}/portal`);
  }
  await signIn(tenantPage, admin);
  await tenantPage.goto(`${base}/portal/health`);
  check((await tenantPage.textContent('body')).includes(issueId), 'the affected tenant sees the new issue');
  const other = creds.tenants[1];
  const otherAdmin = other.users.find((u) => u.roles.includes('GlobalAdministrator'));
  const elsewhere = await (await browser.newContext()).newPage();
  await signIn(elsewhere, otherAdmin);
  await elsewhere.goto(`${base}/portal/health`);
  check(!(await elsewhere.textContent('body')).includes(issueId), 'a tenant not placed there does not see it');
  const direct = await elsewhere.goto(`${base}/portal/health/issues/${issueId}`);
  check(direct.status() === 404, 'nor can it open the issue by its id');

  // An update, then resolution and a published review.
  await consolePage.fill('form[action$="/posts"] textarea[name=body]', '<p>A certificate expired; we are replacing it.</p>');
  await consolePage.selectOption('form[action$="/posts"] select[name=status]', 'restoringService');
  await consolePage.click('form[action$="/posts"] button[type=submit]');
  await consolePage.waitForLoadState();
  await tenantPage.goto(`${base}/portal/health/issues/${issueId}`);
  check((await tenantPage.textContent('body')).includes('certificate expired'), 'the tenant sees the new post');
  check((await tenantPage.locator('article.post').count()) === 2, 'both posts are listed');
  await tenantPage.screenshot({ path: `${shots}/11-tenant-sees-issue.png`, fullPage: true });
  await consolePage.fill('form[action$="/posts"] textarea[name=body]', '<p>The certificate was replaced; meetings start normally.</p>');
  await consolePage.selectOption('form[action$="/posts"] select[name=status]', 'serviceRestored');
  await consolePage.click('form[action$="/posts"] button[type=submit]');
  await consolePage.waitForSelector('#review');
  await consolePage.fill('#review textarea[name=user_impact]', 'Users could not start meetings for 35 minutes.');
  await consolePage.fill('#review textarea[name=scope_of_impact]', 'Tenants on eu-west-su1-tms01.');
  await consolePage.fill('#review textarea[name=root_cause]', 'An expired certificate on the meeting service.');
  await consolePage.fill('#review textarea[name=actions_taken]', 'The certificate was replaced.');
  await consolePage.fill('#review textarea[name=next_steps]', 'Certificates are now renewed automatically 30 days ahead.');
  await consolePage.click('#review button[value=publish]');
  await consolePage.waitForLoadState();
  await consolePage.screenshot({ path: `${shots}/12-console-review.png`, fullPage: true });
  await tenantPage.goto(`${base}/portal/health/issues/${issueId}`);
  const download = tenantPage.waitForEvent('download');
  await tenantPage.click(`a[href="/portal/health/issues/${issueId}/review?download=1"]`);
  const file = await download;
  const path = await file.path();
  const review = readFileSync(path, 'utf8');
  check(review.includes('An expired certificate'), 'the downloaded review holds the root cause');
  check(file.suggestedFilename().includes(issueId), 'the download is named after the issue');

  // Message Center: the tenant reads a message with an attachment.
  await tenantPage.goto(`${base}/portal/messages`);
  check((await tenantPage.locator('table.messages tbody tr').count()) === 3, 'three messages reached the tenant');
  await tenantPage.screenshot({ path: `${shots}/13-message-center.png`, fullPage: true });
  await tenantPage.click('table.messages a:has-text("SMTP AUTH")');
  await tenantPage.waitForURL(/\/portal\/messages\/MC\d+/);
  check((await tenantPage.textContent('body')).includes('affected-connectors.csv'), 'the attachment is listed');
  await tenantPage.click('form:has(input[name=change][value=favorite]) button');
  await tenantPage.waitForLoadState();
  await tenantPage.screenshot({ path: `${shots}/14-message.png`, fullPage: true });
  await tenantPage.goto(`${base}/portal/messages?view=favorites`);
  check((await tenantPage.locator('table.messages tbody tr').count()) === 1, 'the favourite is listed');

  // Planned maintenance: the incident manager previews its reach and schedules it in the
  // console; the tenant's dashboard lists it; started early, the dashboard and the public
  // page show the service under maintenance.
  await consolePage.goto(`${base}/console/maintenance`);
  const inHours = (h) => new Date(Date.now() + h * 3600e3).toISOString().slice(0, 16);
  const form = '#schedule-maintenance';
  // SharePoint: no issue is active on it, so its row can say "under maintenance".
  await consolePage.fill(`${form} input[name=services]`, 'SharePoint');
  await consolePage.fill(`${form} input[name=regions]`, 'eu-west');
  await consolePage.fill(`${form} input[name=title]`, 'Search index rebuild');
  await consolePage.fill(`${form} textarea[name=description]`, 'New files may take longer to appear in search.');
  await consolePage.fill(`${form} input[name=start]`, inHours(2));
  await consolePage.fill(`${form} input[name=end]`, inHours(4));
  await consolePage.click(`${form} button[value=preview]`);
  await consolePage.waitForSelector('#maintenance-preview');
  check((await consolePage.textContent('#maintenance-preview')).includes('would reach'), 'the maintenance preview says whom it reaches');
  await consolePage.click(`${form} button[value=schedule]`);
  await consolePage.waitForURL(/\/console\/maintenance#MN\d+/);
  const maintenanceId = consolePage.url().split('#').pop();
  await consolePage.screenshot({ path: `${shots}/14b-console-maintenance.png`, fullPage: true });
  await tenantPage.goto(`${base}/portal/health`);
  check((await tenantPage.textContent('table.maintenances')).includes('Search index rebuild'), 'the tenant dashboard lists the maintenance');
  // The page's address does not change: wait for the change's own answer.
  await Promise.all([
    consolePage.waitForResponse((r) => r.url().includes(`/console/maintenance/${maintenanceId}/change`)),
    consolePage.click(`tr#${maintenanceId} button[value=startEarly]`),
  ]);
  await consolePage.waitForLoadState();
  await consolePage.screenshot({ path: `${shots}/14b2-console-maintenance-started.png`, fullPage: true });
  await tenantPage.goto(`${base}/portal/health`);
  await tenantPage.screenshot({ path: `${shots}/14c-dashboard-maintenance.png`, fullPage: true });
  check((await tenantPage.locator('table.services .status-info').count()) >= 1, 'the dashboard shows the service under maintenance');
  await outsider.goto(`${base}/status`);
  const publicText = await outsider.textContent('body');
  check(publicText.includes('Under maintenance') && publicText.includes('Search index rebuild'), 'the public page shows the maintenance');
  await outsider.screenshot({ path: `${shots}/14d-public-maintenance.png`, fullPage: true });

  // Someone subscribes on the public page and confirms from the email Candor sends.
  await outsider.click('#subscribe-link');
  await outsider.waitForURL(/\/status\/subscribe/);
  await outsider.fill('#subscribe input[name=email]', 'walker@example.org');
  await outsider.screenshot({ path: `${shots}/14e0-subscribe-form.png`, fullPage: true });
  await outsider.click('#subscribe button[type=submit]');
  check((await outsider.textContent('#notice')).includes('Check your inbox'), 'the form says a confirmation email is on its way');
  await outsider.screenshot({ path: `${shots}/14e-subscribe-sent.png`, fullPage: true });
  const confirmLink = await linkInMail('walker@example.org', '/status/subscribe/confirm/');
  await outsider.goto(confirmLink);
  check((await outsider.textContent('body')).includes('walker@example.org'), 'the link asks to confirm this address');
  await outsider.screenshot({ path: `${shots}/14f-subscribe-confirm.png`, fullPage: true });
  await outsider.click('#confirm button[type=submit]');
  check((await outsider.textContent('#notice')).includes('walker@example.org will receive'), 'the subscription is confirmed');
  await outsider.screenshot({ path: `${shots}/14g-subscribed.png`, fullPage: true });
  await outsider.click('#manage');
  check((await outsider.textContent('body')).includes('walker@example.org'), 'the subscriber can open its own page');
  check(await outsider.isChecked('#subscribe input[name=topics][value=plannedMaintenance]'), 'its page shows what it receives');
  await outsider.screenshot({ path: `${shots}/14h-subscription-page.png`, fullPage: true });

  // Customer Lockbox: an engineer files a request, a manager approves it internally,
  // the tenant's approver approves it in the portal, then revokes it.
  const engineer = creds.operators.find((o) => o.roles.includes('SupportEngineer'));
  const manager = creds.operators.find((o) => o.roles.includes('SupportManager'));
  const approver = tenant.users.find((u) => u.roles.includes('CustomerLockboxAccessApprover'));
  async function consoleSignIn(p, who) {
    await p.goto(`${base}/console/signin`);
    await p.fill('input[name=email]', who.email);
    await p.fill('input[name=password]', who.password);
    await p.click('button[type=submit]:not(.small)');
    await p.waitForURL(`${base}/console`);
  }
  const eng = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await consoleSignIn(eng, engineer);
  await eng.click('nav a[href="/console/lockbox"]');
  await eng.waitForURL(/\/console\/lockbox/);
  await eng.click('a.button[href="/console/lockbox/new"]');
  await eng.waitForURL(`${base}/console/lockbox/new`);
  await eng.selectOption('select[name=tenant]', tenant.id);
  await eng.check('input[name=workload][value="Exchange Online"]');
  await eng.check('input[name=operations][value="Exchange Online|Get-Mailbox"]');
  await eng.fill('input[name=service_request]', 'SR-BROWSER-1');
  await eng.fill('textarea[name=justification]', 'A shared mailbox shows no new mail since this morning.');
  await eng.fill('input[name=minutes]', '30');
  await eng.screenshot({ path: `${shots}/15-lockbox-file.png`, fullPage: true });
  await eng.click('#lockbox-file button[type=submit]');
  await eng.waitForURL(/\/console\/lockbox\/requests\/.*notice=filed/);
  const requestId = eng.url().split('/').pop().split('?')[0];
  check(!(await eng.isVisible('#lockbox-internal')), 'the engineer cannot approve their own request');
  check(await eng.isVisible('#lockbox-cancel'), 'the engineer may cancel their own request');

  const mgr = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await consoleSignIn(mgr, manager);
  await mgr.goto(`${base}/console/lockbox`);
  check((await mgr.textContent('#lockbox-requests')).includes('SR-BROWSER-1'), 'the request is in the manager\'s queue');
  await mgr.click(`a[href="/console/lockbox/requests/${requestId}"]`);
  await mgr.click('#lockbox-internal button[value=Approve]');
  await mgr.waitForURL(/notice=internal/);
  check(await mgr.isVisible('#request-status.status-warn'), 'the request now waits for the tenant');

  const appr = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await signIn(appr, approver);
  check(await appr.isVisible('.alert a[href="/portal/lockbox?status=pending"]'), 'approvers are told that requests wait for them');
  await appr.click('nav a[href="/portal/lockbox"]');
  await appr.waitForURL(`${base}/portal/lockbox`);
  check((await appr.textContent('#lockbox-requests')).includes('SR-BROWSER-1'), 'the approver sees the request');
  await appr.screenshot({ path: `${shots}/16-lockbox-requests.png`, fullPage: true });
  await appr.click(`a[href="/portal/lockbox/requests/${requestId}"]`);
  await appr.waitForURL(`${base}/portal/lockbox/requests/${requestId}`);
  check((await appr.textContent('#lockbox-approvers')).includes(admin.email), 'approvers see who else may approve');
  await appr.fill('#lockbox-decide textarea[name=comment]', 'Approved for the shared mailbox case');
  await appr.click('#lockbox-decide button[value=Approve]');
  await appr.waitForURL(/notice=decided/);
  check(await appr.isVisible('#request-status.status-ok'), 'the request is approved');
  check((await appr.locator('#lockbox-decisions [data-signed]').count()) === 2, 'both decisions are signed');
  await appr.screenshot({ path: `${shots}/17-lockbox-approved.png`, fullPage: true });
  await appr.click('#lockbox-revoke button[type=submit]');
  await appr.waitForURL(/notice=revoked/);
  check(await appr.isVisible('#request-status.status-bad'), 'access is revoked');
  await appr.screenshot({ path: `${shots}/18-lockbox-revoked.png`, fullPage: true });

  // Phone: the provider's admin in the operator console.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const mobile = await phone.newPage();
  await mobile.goto(`${base}/console/signin`);
  await mobile.fill('input[name=email]', operator.email);
  await mobile.fill('input[name=password]', operator.password);
  await mobile.click('button[type=submit]:not(.small)');
  await mobile.waitForURL(`${base}/console`);
  const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 400, `the console fits a phone (scroll width ${width})`);
  await mobile.screenshot({ path: `${shots}/06-console-phone.png`, fullPage: true });
  check(!(await mobile.isVisible('nav.nav')), 'the menu is folded on a phone');
  await mobile.click('label.menu-button');
  await mobile.click('nav a[href="/console/tenants"]');
  await mobile.waitForURL(`${base}/console/tenants`);
  check((await mobile.locator('tbody tr').count()) === 50, 'fifty demo tenants are listed');
  await mobile.screenshot({ path: `${shots}/07-tenants-phone.png`, fullPage: true });
  console.log('browser walk: ok');
} finally {
  await browser.close();
}
