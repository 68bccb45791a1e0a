// The portal's entry module. It says the portal is loading until the pages replace this file.
const main = document.getElementById('app');
main.textContent = 'Vigil security portal: loading the pages of the portal. ' +
  'Sign in with an admin token to see the devices, alerts and policies of this server.';
