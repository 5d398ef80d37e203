/** `config:get` takes an empty object: any field is refused by the validation pipe. */
export class ConfigGetDto {}
