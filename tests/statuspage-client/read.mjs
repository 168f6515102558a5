// Reads Candor's Statuspage-compatible API with the `statuspage.io` npm client, as
// published: the client is made for https://<page>.statuspage.io, so only its HTTP
// client's base URL is pointed at Candor. Prints what each call returned, as JSON.
import { Statuspage } from 'statuspage.io';

const base = process.argv[2];
if (!base) {
  console.error('usage: node read.mjs <candor base url>');
  process.exit(2);
}
const client = new Statuspage('candor');
client.apiClient.defaults.baseURL = base;
const api = client.api;
const out = {
  summary: await api.getSummary(),
  status: await api.getStatus(),
  components: await api.getComponents(),
  incidents: await api.incidents.getAll(),
  unresolved: await api.incidents.getUnresolved(),
  upcoming: await api.scheduledMaintenances.getUpcoming(),
};
console.log(JSON.stringify(out));
