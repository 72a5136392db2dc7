/**
 * Multicast (RFC 7252 §8): a server joins a group, and a client sends one NON request to the
 * group and collects every member's answer until its timeout.
 *
 *   node dist/examples/multicast.js                      # 224.0.1.187 (All CoAP Nodes, IPv4), default interface
 *   node dist/examples/multicast.js ff02::fd eth0        # link-local IPv6 group: name the interface
 *   node dist/examples/multicast.js 224.0.1.187 lo 5690  # group, interface, port
 *
 * Run it on a host with a multicast-capable interface (a LAN, or a network namespace whose `lo`
 * has a multicast route, as test/examples.test.ts does). On loopback without a route to the
 * group, sending fails or nobody answers.
 */
import { CoapClient, CoapServer } from 'libcoap'

async function main(): Promise<void> {
  const [group = '224.0.1.187', ifname, portArg = '5683'] = process.argv.slice(2)
  const port = Number(portArg)
  const v6 = group.includes(':')
  // Members listen on a wildcard address (group datagrams are addressed to the group, not to
  // us) and join the group on an interface (or the system's default one).
  const server = new CoapServer({
    listen: v6 ? `coap://[::]:${port}` : `coap://0.0.0.0:${port}`,
    multicast: { group, interface: ifname },
    // libcoap waits a random 0..leisure seconds before answering a group request, so that a
    // thousand members do not answer at once (default 5 s). A small group can be quicker.
    parameters: { defaultLeisure: 1 },
  })
  server.resource('/sensors/temp', { rt: 'temperature-c', title: 'Temperature' }).get((req) => `21.5 C (asked by ${req.type})`)
  server.on('error', (err) => console.error('handler error:', err))
  await server.listen()
  console.log(`member of ${group}${ifname ? `%${ifname}` : ''} on port ${port}`)

  await using client = new CoapClient()
  const host = v6 ? `[${group}]` : group
  // Group requests are NON; answers arrive as NON from each member's own (unicast) address.
  // Wait a little longer than the members' leisure. Errors (e.g. 4.04 from a member without
  // the resource) are not sent to group requests at all. The client's `interface` scopes IPv6
  // link-local groups (ff02::fd%eth0); an IPv4 group goes where the routing table says.
  for (const path of ['/.well-known/core?rt=temperature-c', '/sensors/temp', '/no-such-resource']) {
    let answers = 0
    for await (const { remote, response } of client.multicast(`coap://${host}:${port}${path}`, { timeout: 1500, interface: v6 ? ifname : undefined })) {
      answers++
      console.log(`GET ${path}: ${remote} answered ${response.code} ${response.type} ${response.text()}`)
    }
    console.log(`GET ${path}: ${answers} answer(s)`)
  }
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
