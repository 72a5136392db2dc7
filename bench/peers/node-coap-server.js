// node-coap's server answering GET /x with a small payload, for side-by-side runs:
//   node node-coap-server.js <port>
'use strict'
const coap = require('coap')

const port = Number(process.argv[2])
const server = coap.createServer({ type: 'udp4' }, (req, res) => {
  if (req.url === '/x') res.end('hello')
  else {
    res.code = '4.04'
    res.end()
  }
})
server.listen(port, '127.0.0.1', () => console.log(`ready ${server._sock?.address?.().port ?? port}`))
process.stdin.resume()
process.stdin.on('end', () => server.close())
